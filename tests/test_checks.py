"""Public checks: pass on a reference answer, fail with a helpful message otherwise,
and never pass on an unfilled exercise (the nbgrader stub raises NotImplementedError)."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse import checks
from conftest import assert_public_check
from aecourse.checks import (CheckFailed, answer_digest, check_blank, check_choice, normalise_choice,
                             normalise_text)


@pytest.mark.parametrize("answer,expected", [
    ("b", "b"), (" B ", "b"), ("(b)", "b"), ("b.", "b"), ("b)", "b"), (3, ""), (None, ""),
])
def test_normalise_choice(answer, expected):
    assert normalise_choice(answer) == expected


@pytest.mark.parametrize("answer,expected", [
    ("Undercomplete", "undercomplete"), (" under-complete. ", "undercomplete"), ("Under Complete", "undercomplete"),
    ("the bottleneck", "bottleneck"), ("a  Distinct\tfeature", "distinctfeature"), ("naïve", "naive"),
])
def test_normalise_text(answer, expected):
    assert normalise_text(answer) == expected


def test_choice_check(capsys):
    digest = answer_digest("q", "c")
    check_choice(" C ", "q", digest)
    assert "public checks passed" in capsys.readouterr().out
    for bad, msg in [(None, "not answered"), ("", "not answered"), (2, "should be a string"),
                     ("e", "not one of"), ("ab", "not one of"), ("a", "not the expected answer")]:
        with pytest.raises(CheckFailed, match=msg):
            check_choice(bad, "q", digest)


def test_digest_is_salted_by_question():
    assert answer_digest("q1", "b") != answer_digest("q2", "b")


def test_blank_check_accepts_synonyms_and_variants(capsys):
    digests = [answer_digest("blank", normalise_text(w)) for w in ("clean", "noise-free")]
    for ok in ("clean", " CLEAN ", "Noise free", "noise-free", "the clean"):
        check_blank(ok, "blank", digests)
    assert capsys.readouterr().out.count("public checks passed") == 5
    for bad, msg in [(None, "not answered"), ("   ", "not answered"), (1, "string"), ("noisy", "not an accepted")]:
        with pytest.raises(CheckFailed, match=msg):
            check_blank(bad, "blank", digests)


def test_check_failed_is_assertion_error():
    # nbgrader marks a test cell as failed when it raises: AssertionError is the convention
    assert issubclass(CheckFailed, AssertionError)


# --------------------------------------------------------------------------- chapter checks
def ref_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def ref_loss(x_hat, x):
    return torch.mean((x_hat - x) ** 2)


class RefTiny(nn.Module):
    def __init__(self, in_dim=64, hidden=32, latent_dim=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x)).view_as(x)


def ref_step(model, x, optimizer):
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    return loss.item()


def ref_pca(X, k):
    mean = X.mean(0)
    Vt = np.linalg.svd(X - mean, full_matrices=False)[2][:k]
    return (X - mean) @ Vt.T @ Vt + mean


def ref_corrupt(x, noise_std, generator=None):
    return (x + noise_std * torch.randn(x.shape, generator=generator)).clamp(0, 1)


def step_without_zero_grad(model, x, optimizer):
    loss = F.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    return loss.item()


class NoSigmoid(RefTiny):
    def __init__(self, in_dim=64, hidden=32, latent_dim=8):
        super().__init__(in_dim, hidden, latent_dim)
        self.decoder = self.decoder[:-1]


CASES = [
    # (check, reference, wrong answers with the message each must produce)
    (checks.setup.count_parameters, ref_count, [
        (lambda m: sum(p.numel() for p in m.parameters()), "expected 8"),
        (lambda m: float(ref_count(m)), "Python int"),
    ]),
    (checks.dense.reconstruction_loss, ref_loss, [
        (lambda a, b: torch.sum((a - b) ** 2), "times too large"),
        (lambda a, b: torch.mean((a - b) ** 2).detach(), "autograd"),
    ]),
    (checks.dense.tiny_autoencoder, RefTiny, [(NoSigmoid, "Sigmoid")]),
    (checks.dense.train_step, ref_step, [
        (lambda m, x, o: torch.tensor(ref_step(m, x, o)), "Python float"),
        (step_without_zero_grad, "zero_grad"),
    ]),
    (checks.dense.pca_reconstruct, ref_pca, [
        (lambda X, k: X @ np.linalg.svd(X, full_matrices=False)[2][:k].T @ np.linalg.svd(X, full_matrices=False)[2][:k],
         "not centred"),
    ]),
    (checks.dense.corrupt, ref_corrupt, [
        (lambda x, s, generator=None: x + s * torch.randn(x.shape, generator=generator), "does not match|clamp"),
    ]),
]


@pytest.mark.parametrize("check,reference,wrong", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_chapter_check_passes_reference_fails_stub_and_wrong(check, reference, wrong, capsys):
    assert_public_check(check, reference, wrong, capsys)


def test_stub_class_fails_tiny_autoencoder():
    class Stub(nn.Module):
        def __init__(self, in_dim=64, hidden=32, latent_dim=8):
            super().__init__()
            raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.dense.tiny_autoencoder(Stub)


# --------------------------------------------------------------------------- 02-sparse
def ref_l1(z):
    return z.abs().sum(dim=1).mean()


def ref_kl(z, rho):
    rho_hat = z.mean(0).clamp(1e-6, 1 - 1e-6)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def ref_topk(pre, k):
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())


def ref_normalize(W):
    return W / W.norm(dim=0, keepdim=True)


def normalize_in_place(W):
    W /= W.norm(dim=0, keepdim=True)
    return W


SPARSE_CASES = [
    (checks.sparse.l1_penalty, ref_l1, [
        (lambda z: z.sum(dim=1).mean(), "absolute values"),
        (lambda z: z.abs().mean(), "does not match|times too|units"),
    ]),
    (checks.sparse.kl_sparsity, ref_kl, [
        (lambda z, rho: (rho * torch.log(rho / z.mean(0))).sum(), "1 - rho"),
        (lambda z, rho: ref_kl(z, rho) / z.shape[1], "does not match|times too|units"),
    ]),
    (checks.sparse.topk_activation, ref_topk, [
        (lambda pre, k: pre.relu(), "keep more than"),
        (lambda pre, k: torch.zeros_like(pre).scatter(-1, pre.topk(k, dim=-1).indices, pre.topk(k, dim=-1).values),
         "need a ReLU|all zeros"),
    ]),
    (checks.sparse.normalize_columns, ref_normalize, [
        (normalize_in_place, "in place"),
        (lambda W: W / W.norm(dim=1, keepdim=True), "rows were normalised"),
    ]),
]


@pytest.mark.parametrize("check,reference,wrong", SPARSE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_sparse_checks(check, reference, wrong, capsys):
    test_chapter_check_passes_reference_fails_stub_and_wrong(check, reference, wrong, capsys)


# --------------------------------------------------------------------------- 03-features
def ref_mmcs(learned, true):
    from aecourse.metrics import mmcs
    return mmcs(learned, true)


def mmcs_over_learned(learned, true):  # averages over the wrong axis
    L = learned / np.linalg.norm(learned, axis=1, keepdims=True)
    T = true / np.linalg.norm(true, axis=1, keepdims=True)
    return float((L @ T.T).max(axis=1).mean())


def mmcs_unnormalised(learned, true):
    return float((learned @ true.T).max(axis=0).mean())


def topk_encode_no_prebias(x, W_enc, b_enc, b_dec, k):
    return ref_topk(x @ W_enc.T + b_enc, k)


def auxk_all_latents(residual, pre, dead, W_dec, aux_k):  # forgets to mask live latents
    z = ref_topk(pre, aux_k)
    return ((z @ W_dec.T - residual).pow(2).sum(1).mean() / (residual - residual.mean(0)).pow(2).sum(1).mean())


FEATURE_CASES = [
    (checks.features.mmcs, ref_mmcs, [(mmcs_over_learned, "TRUE features|does not match"),
                                      (mmcs_unnormalised, "unit length")]),
    (checks.features.topk_encode, checks.features._topk_encode_reference,
     [(topk_encode_no_prebias, "pre-bias|does not match")]),
    (checks.features.auxk_loss, checks.features._auxk_reference, [(auxk_all_latents, "does not match|live latents")]),
]


@pytest.mark.parametrize("check,reference,wrong", FEATURE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_feature_checks(check, reference, wrong, capsys):
    test_chapter_check_passes_reference_fails_stub_and_wrong(check, reference, wrong, capsys)


# --------------------------------------------------------------------------- 04-disentangle
def ref_reparameterize(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def ref_kl_to_prior(mu, logvar):
    from aecourse.vae import gaussian_kl
    return gaussian_kl(mu, logvar).sum(1)


def ref_negative_elbo(x, logits, mu, logvar, beta):
    from aecourse.vae import bernoulli_reconstruction
    return (bernoulli_reconstruction(logits, x) + beta * ref_kl_to_prior(mu, logvar)).mean()


def ref_total_correlation(z, mu, logvar, n):
    from aecourse.vae import kl_decomposition
    return kl_decomposition(z, mu, logvar, n)["tc"]


def ref_spearman(values, measured):
    from scipy.stats import spearmanr
    return float(spearmanr(values, measured)[0])


def tc_without_constants(z, mu, logvar, n):  # disentanglement_lib's form: right gradient, wrong value
    from aecourse.vae import gaussian_log_density
    pair = gaussian_log_density(z[:, None], mu[None], logvar[None])
    return (torch.logsumexp(pair.sum(2), 1) - torch.logsumexp(pair, 1).sum(1)).mean()


DISENTANGLE_CASES = [
    (checks.disentangle.reparameterize, ref_reparameterize, [
        (lambda mu, logvar: mu + logvar.exp() * torch.randn_like(mu), "spread"),
        (lambda mu, logvar: mu + torch.exp(0.5 * logvar), "centred|spread|noise"),
        (lambda mu, logvar: (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach(), "gradient"),
    ]),
    (checks.disentangle.kl_to_prior, ref_kl_to_prior, [
        (lambda mu, logvar: ref_kl_to_prior(mu, logvar).mean(), "shape"),
        (lambda mu, logvar: 0.5 * (mu ** 2 + logvar.exp() - logvar).sum(1), "does not match"),
    ]),
    (checks.disentangle.negative_elbo, ref_negative_elbo, [
        (lambda x, logits, mu, logvar, beta: ref_negative_elbo(x, logits, mu, logvar, 1.0), "beta=4"),
        (lambda x, logits, mu, logvar, beta: torch.nn.functional.binary_cross_entropy_with_logits(logits, x)
         + beta * ref_kl_to_prior(mu, logvar).mean(), "does not match"),
    ]),
    (checks.disentangle.total_correlation, ref_total_correlation, [(tc_without_constants, "does not match")]),
    (checks.disentangle.traversal_correlation, ref_spearman, [
        (lambda v, m: float(np.corrcoef(v, m)[0, 1]), "does not match"),
    ]),
]


@pytest.mark.parametrize("check,reference,wrong", DISENTANGLE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_disentangle_checks(check, reference, wrong, capsys):
    test_chapter_check_passes_reference_fails_stub_and_wrong(check, reference, wrong, capsys)


# --------------------------------------------------------------------------- 05-measure
def ref_discretize(codes, num_bins):
    from aecourse.measure import histogram_discretize
    return histogram_discretize(codes, num_bins)


def ref_mutual_information(d, factors):
    from aecourse.measure import discrete_mutual_info
    return discrete_mutual_info(d, factors)


def ref_mig(codes, factors):
    from aecourse.measure import mig
    return mig(codes, factors)["mig"]


def mig_without_normalising(codes, factors):
    m = ref_mutual_information(ref_discretize(codes, 20), factors)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def mig_best_only(codes, factors):
    from aecourse.measure import discrete_entropy
    m = ref_mutual_information(ref_discretize(codes, 20), factors)
    return float(np.mean(m.max(0) / discrete_entropy(factors)))


MEASURE_CASES = [
    (checks.measure.discretize, ref_discretize, [
        (lambda codes, b: np.floor((codes - codes.min()) / np.ptp(codes) * b).astype(int), "differ|rescaling"),
        (lambda codes, b: ref_discretize(codes, b).astype(float), "integers"),
    ]),
    (checks.measure.mutual_information, ref_mutual_information, [
        (lambda d, f: ref_mutual_information(d, f).T, "shape"),
        (lambda d, f: ref_mutual_information(d, f) / np.log(2), "does not match|times too"),
    ]),
    (checks.measure.mig, ref_mig, [(mig_without_normalising, "does not match|times too"),
                                    (mig_best_only, "does not match|times too")]),
]


@pytest.mark.parametrize("check,reference,wrong", MEASURE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_measure_checks(check, reference, wrong, capsys):
    test_chapter_check_passes_reference_fails_stub_and_wrong(check, reference, wrong, capsys)


# --------------------------------------------------------------------------- feedback machinery
def test_check_failed_shows_only_its_message_in_ipython():
    """IPython renders CheckFailed through _render_traceback_: the ❌/💡 lines, no checker traceback."""
    from mistakehelp import Chapter

    err = checks.fail("the loss is 3 times too large", "average, do not add")
    assert err._render_traceback_() == ["❌ the loss is 3 times too large", "💡 Hint: average, do not add"]
    error, shown = Chapter("00-setup")._run("from aecourse import checks\nchecks.expect(False, 'it is wrong', 'a hint')")
    assert isinstance(error, CheckFailed)
    assert shown.strip().splitlines() == ["❌ it is wrong", "💡 Hint: a hint"]


def _cells(*sources):
    """Run cells in the test IPython shell as a fresh kernel would; return (error, output) of the last."""
    from mistakehelp import Chapter, shell

    sh = shell()
    sh.user_ns.clear()
    sh.init_user_ns()
    checks.forget_answer_cells()
    chapter = Chapter("00-setup")
    for source in sources[:-1]:
        chapter._run(source)
    return chapter._run(sources[-1])


Q1 = '# Your answer: one letter in quotes, e.g. answer_q1 = "a"\n'
Q2 = '# Your answer: one letter in quotes, e.g. answer_q2 = "a"\n'
CHECK_Q1 = ('from aecourse.checks import check_choice, answer_digest\n'
            'check_choice(globals().get("answer_q1"), "q1", answer_digest("q1", "b"), variable="answer_q1")')
CHECK_Q2 = CHECK_Q1.replace("q1", "q2")


@pytest.mark.parametrize("cells,message", [
    ((Q1 + 'answer_q1 = "b"',), None),
    ((Q1 + 'answer_q1 = "b"', Q1 + "answer_q1 = b"), "raised NameError.*quotes"),
    ((Q1 + "raise NotImplementedError()",), "not answered yet"),
    ((Q1 + 'answer_q2 = "b"',), "set in the answer cell of `answer_q1`"),
    ((Q1 + 'answer_q1 = "c"', 'answer_q1 = "b"  # a scratch cell'), "set again by another cell"),
    ((Q1 + 'answer_q1s = "b"',), "did not set `answer_q1` .*answer_q1s"),
    ((Q1 + 'answer_q1 = "b', ), "SyntaxError"),
])
def test_quiz_answers_are_read_from_their_own_cell(cells, message):
    check = CHECK_Q2 if "answer_q2" in cells[0] else CHECK_Q1
    error, shown = _cells(*cells, check)
    if message is None:
        assert error is None and "public checks passed" in shown, shown
    else:
        assert isinstance(error, CheckFailed), shown
        assert re.search(message, str(error), re.S), str(error)
        assert "Traceback" not in shown


def test_stray_answer_does_not_judge_an_untouched_stub():
    """The issue's trap: answer_q2 written in q1's cell, q2's stub untouched and run."""
    error, _ = _cells(Q1 + 'answer_q2 = "c"', Q2 + "raise NotImplementedError()", CHECK_Q2)
    assert "not answered yet" in str(error) and "expected answer" not in str(error)


def test_plain_python_reads_the_value_passed(capsys):
    """Outside a running IPython cell (plain Python, this test) the check judges the argument, as before."""
    _cells(Q1 + "answer_q1 = b", "pass")  # leave a failed answer cell behind in the shell's record
    check_choice("b", "q1", answer_digest("q1", "b"), variable="answer_q1")
    assert "public checks passed" in capsys.readouterr().out


def test_blank_names_the_wrong_number_and_author_hints():
    digests = [answer_digest("b", normalise_text(w)) for w in ("factor", "cause")]
    with pytest.raises(CheckFailed, match="singular") as err:
        check_blank("Factors", "b", digests)
    assert "factor" not in str(err.value).replace("'Factors'", "")  # the hint does not print the word
    with pytest.raises(CheckFailed, match="plural"):
        check_blank("cause", "b", [answer_digest("b", "causes")])
    with pytest.raises(CheckFailed, match="think of what varies"):
        check_blank("pixel", "b", digests, near_misses={answer_digest("b", "pixel"): "think of what varies"})


def test_wrong_return_types_are_named_not_raised():
    from scipy.stats import spearmanr

    result = spearmanr([1, 2, 3, 4], [1, 3, 2, 4])
    with pytest.raises(CheckFailed, match="SignificanceResult") as err:
        checks.expect_number(result, "the correlation")
    assert "several values" in str(err.value)
    with pytest.raises(CheckFailed, match="got tuple"):
        checks.expect_close((1.0, 2.0), 1.0, "the value")
    with pytest.raises(CheckFailed, match=r"got None(.|\n)*return"):
        checks.expect_type(None, torch.Tensor, "l1_penalty(z)")
    with pytest.raises(CheckFailed, match="one number, got ndarray of shape"):
        checks.expect_number(np.ones(3), "mmcs")


def test_expect_close_names_sign_and_scale():
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.expect_close(-3.0, 3.0, "the KL")
    with pytest.raises(CheckFailed, match="6 times too large"):
        checks.expect_close(6 * 1.5580, 1.5580, "the penalty")
    with pytest.raises(CheckFailed, match="4 times too small"):
        checks.expect_close(torch.tensor([1.0, 2.0]), torch.tensor([4.0, 8.0]), "the norms")
    with pytest.raises(CheckFailed, match=r"^❌ the value: does not match the reference \(expected 1, got 1.3\)"):
        checks.expect_close(1.3, 1.0, "the value")  # one number: no made-up scale factor
    with pytest.raises(CheckFailed, match="NaN or inf"):
        checks.expect_close(float("nan"), 1.0, "the value")


def test_call_reports_in_place_changes_and_learner_line():
    def scale(w):
        w *= 2
        return w

    with pytest.raises(CheckFailed, match=r"changed its input \(argument 1\) in place"):
        checks.call(scale, torch.ones(3), name="scale")

    def broken(x):
        return x @ torch.ones(5, 2)

    with pytest.raises(CheckFailed, match=r"raised RuntimeError.*line \d+: `return x @ torch.ones\(5, 2\)`"):
        checks.call(broken, torch.ones(3, 4), name="broken")


def test_plural():
    assert checks.plural(1, "unit") == "1 unit" and checks.plural(3, "unit") == "3 units"


def test_chapter_04_blank_says_the_singular_is_wanted():
    """The issue's case: 04's fill-in ("two of the ___s") rejects "factors" saying which form the blank takes."""
    from mistakehelp import Chapter

    out = Chapter("04-disentangle").grade("test_blank", 'answer_blank = "factors"')
    assert not out.public_passed and not out.hidden_passed
    assert "singular" in out.message, out.message


MY_CHECKS = [checks.setup.count_parameters, checks.dense.reconstruction_loss, checks.dense.tiny_autoencoder,
             checks.dense.train_step,
             checks.dense.pca_reconstruct, checks.dense.corrupt, checks.sparse.l1_penalty, checks.sparse.kl_sparsity,
             checks.sparse.topk_activation, checks.sparse.normalize_columns, checks.features.mmcs,
             checks.features.topk_encode, checks.features.auxk_loss]


@pytest.mark.parametrize("check", MY_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("returned", [None, (1.0, 2.0), "0.5", [0.5], {"value": 1}, True, float("nan"),
                                      np.float64(0.25), torch.zeros(2, 2)], ids=repr)
def test_any_returned_value_gives_a_check_failure_not_a_crash(check, returned):
    """Whatever a learner's function returns, the checker answers with a ❌ line, never its own exception."""
    with pytest.raises(CheckFailed, match="^❌"):
        check(lambda *args, **kwargs: returned)


@pytest.mark.slow
def test_in_a_real_kernel_the_learner_sees_only_the_message_and_the_answer_cell_counts():
    """In an ipykernel (JupyterLab, nbval, nbgrader's autograder all run one): a failing check's error output
    is the ❌/💡 lines alone, and an answer cell that raised NameError fails its check even though an
    earlier run of the cell left a right answer behind."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "from aecourse import checks", Q1 + 'answer_q1 = "b"', CHECK_Q1, Q1 + "answer_q1 = b", CHECK_Q1)]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    first, last = nb.cells[2].outputs, nb.cells[4].outputs
    assert any("public checks passed" in o.get("text", "") for o in first)
    errors = [o for o in last if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "CheckFailed"
    assert errors[0].traceback[0].startswith("❌ your answer cell raised NameError")
    assert len(errors[0].traceback) == 2 and errors[0].traceback[1].startswith("💡")
