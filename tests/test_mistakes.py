"""No false green, proven for chapters 00-03: a catalogue of plausible wrong answers, each graded
against the public check AND the chapter's hidden tests (see ``mistakehelp``). Every mistake must
fail the public check with a ❌ line that names it (``keyword``), without a traceback, and with a
hint that does not print the solution; the solutions must pass both, the release stubs fail.

Chapters 04-07 have their catalogue in ``test_mistakes_later.py``.
"""

from __future__ import annotations

import pytest

from mistakehelp import Chapter, Mistake, assert_no_false_green, assert_reference_passes

SETUP = Chapter("00-setup")
DENSE = Chapter("01-dense", setup=("c001",))
SPARSE = Chapter("02-sparse", setup=("c001",))
FEATURES = Chapter("03-features", setup=("c001",))
CHAPTERS = {ch.chapter: ch for ch in (SETUP, DENSE, SPARSE, FEATURES)}


def quiz_mistakes(chapter: Chapter, grade_id: str, variable: str, wrong: str, *, blank: bool = False,
                  extra: tuple[Mistake, ...] = ()) -> list[Mistake]:
    """The slips every quiz and fill-in answer cell invites; ``wrong`` is a plausible wrong answer."""
    example = '"word"' if blank else '"a"'
    kind = "a word" if blank else "one letter"
    marker = f"# Your answer: {kind} in quotes, e.g. {variable} = {example}"
    other_marker = marker.replace(variable, "answer_q9")
    mistakes = [
        Mistake(grade_id, "wrong answer", source=f'{marker}\n{variable} = "{wrong}"',
                keyword="not the expected answer|not an accepted answer"),
        Mistake(grade_id, "answer without quotes", source=f"{marker}\n{variable} = {wrong}",
                keyword=r"NameError.*quotes"),
        Mistake(grade_id, "answer without quotes after a right one", source=f"{marker}\n{variable} = {wrong}",
                earlier=(chapter.solution(grade_id),), keyword=r"NameError.*quotes"),
        Mistake(grade_id, "stub left, answer written in another question's cell", source=chapter.stub(grade_id),
                others=(f'{other_marker}\n{variable} = "{wrong}"',), keyword="not answered yet"),
        Mistake(grade_id, "misspelt variable", source=f'{marker}\n{variable}s = "{wrong}"',
                keyword=f"did not set `{variable}`"),
    ]
    if not blank:
        mistakes.append(Mistake(grade_id, "two letters", source=f'{marker}\n{variable} = "a, b"',
                                keyword="single letter"))
    return mistakes + list(extra)


# --------------------------------------------------------------------------- 00-setup
SETUP_MISTAKES = [
    Mistake("test_count_parameters", "frozen parameters counted",
            replace=(" if p.requires_grad", ""), keyword="frozen|requires_grad"),
    Mistake("test_count_parameters", "float instead of int",
            replace=("return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                     "return float(sum(p.numel() for p in model.parameters() if p.requires_grad))"), keyword="int"),
    Mistake("test_count_parameters", "tensor instead of int",
            replace=("return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                     "return torch.tensor([p.numel() for p in model.parameters() if p.requires_grad]).sum()"),
            keyword="int.*Tensor|Tensor.*int"),
    Mistake("test_count_parameters", "tensors counted instead of numbers",
            replace=("p.numel() for p", "1 for p"), keyword="tensors"),
    Mistake("test_count_parameters", "biases forgotten",
            replace=("if p.requires_grad", "if p.requires_grad and p.dim() > 1"), keyword="bias"),
    Mistake("test_count_parameters", "no return",
            replace=("return sum(", "n = sum("), keyword="None.*return|return.*None"),
    *quiz_mistakes(SETUP, "test_q1", "answer_q1", "a"),
    *quiz_mistakes(SETUP, "test_blank", "answer_blank", "encoder", blank=True, extra=(
        Mistake("test_blank", "plural", source='answer_blank = "bottlenecks"', keyword="singular"),
    )),
]

# --------------------------------------------------------------------------- 01-dense
DENSE_MISTAKES = [
    Mistake("test_reconstruction_loss", "sum instead of mean",
            replace=("torch.mean(", "torch.sum("), keyword="times too large.*average|sum"),
    Mistake("test_reconstruction_loss", "per-image sum, then batch mean",
            replace=("torch.mean((x_hat - x) ** 2)", "((x_hat - x) ** 2).flatten(1).sum(1).mean()"),
            keyword="times too large"),
    Mistake("test_reconstruction_loss", "absolute instead of squared error",
            replace=("torch.mean((x_hat - x) ** 2)", "torch.mean((x_hat - x).abs())"), keyword="absolute"),
    Mistake("test_reconstruction_loss", "root mean squared error",
            replace=("torch.mean((x_hat - x) ** 2)", "torch.sqrt(torch.mean((x_hat - x) ** 2))"),
            keyword="square root"),
    Mistake("test_reconstruction_loss", "returns a Python float",
            replace=("torch.mean((x_hat - x) ** 2)", "torch.mean((x_hat - x) ** 2).item()"), keyword="float"),
    Mistake("test_reconstruction_loss", "detached",
            replace=("torch.mean((x_hat - x) ** 2)", "torch.mean((x_hat.detach() - x) ** 2)"), keyword="autograd"),
    Mistake("test_tiny_autoencoder", "no Sigmoid",
            replace=("nn.Linear(hidden, in_dim), nn.Sigmoid()", "nn.Linear(hidden, in_dim)"), keyword="Sigmoid"),
    Mistake("test_tiny_autoencoder", "no Flatten",
            replace=("nn.Flatten(), ", ""), keyword="flatten"),
    Mistake("test_tiny_autoencoder", "output not reshaped",
            replace=(".view_as(x)", ""), keyword="shape"),
    Mistake("test_tiny_autoencoder", "no ReLU in the encoder",
            replace=("nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim)",
                     "nn.Linear(in_dim, hidden), nn.Linear(hidden, latent_dim)"), keyword="linear.*ReLU"),
    Mistake("test_tiny_autoencoder", "latent_dim ignored",
            replace=[("nn.Linear(hidden, latent_dim)", "nn.Linear(hidden, 8)"),
                     ("nn.Linear(latent_dim, hidden)", "nn.Linear(8, hidden)")],
            keyword="latent_dim"),
    Mistake("test_train_step", "no zero_grad", replace=("    optimizer.zero_grad()\n", ""), keyword="zero_grad"),
    Mistake("test_train_step", "returns the loss tensor", replace=("return loss.item()", "return loss"),
            keyword="float.*Tensor"),
    Mistake("test_train_step", "loss after the step",
            replace=("return loss.item()", "return F.mse_loss(model(x), x).item()"), keyword="before"),
    Mistake("test_train_step", "no optimizer.step()", replace=("    optimizer.step()\n", ""),
            keyword="did not change"),
    Mistake("test_train_step", "zero_grad between backward and step",
            replace=[("    optimizer.zero_grad()\n", ""), ("loss.backward()\n", "loss.backward()\n    optimizer.zero_grad()\n")],
            keyword="did not change"),
    Mistake("test_pca_reconstruct", "not centred",
            replace=[("Xc = X - mean", "Xc = X"), ("@ Vk + mean", "@ Vk")], keyword="centre"),
    Mistake("test_pca_reconstruct", "mean not added back", replace=("@ Vk + mean", "@ Vk"), keyword="mean back"),
    Mistake("test_pca_reconstruct", "smallest components", replace=("Vt[:k]", "Vt[-k:]"), keyword="largest"),
    Mistake("test_pca_reconstruct", "code returned instead of reconstruction",
            replace=("Xc @ Vk.T @ Vk + mean", "Xc @ Vk.T"), keyword="shape"),
    Mistake("test_corrupt", "no clamp", replace=(".clamp(0.0, 1.0)", ""), keyword="clamp"),
    Mistake("test_corrupt", "changes x in place",
            replace=("return (x + noise_std * noise).clamp(0.0, 1.0)", "return x.add_(noise_std * noise).clamp_(0.0, 1.0)"),
            keyword="in place"),
    Mistake("test_corrupt", "generator ignored", replace=("torch.randn(x.shape, generator=generator)", "torch.randn(x.shape)"),
            keyword="generator"),
    Mistake("test_corrupt", "uniform noise", replace=("torch.randn(", "torch.rand("), keyword="Gaussian"),
    Mistake("test_corrupt", "variance instead of standard deviation",
            replace=("x + noise_std * noise", "x + noise_std ** 2 * noise"), keyword="standard deviation"),
    *quiz_mistakes(DENSE, "test_q1", "answer_q1", "a"),
    *quiz_mistakes(DENSE, "test_q2", "answer_q2", "c"),
    *quiz_mistakes(DENSE, "test_blank_denoise", "answer_blank_denoise", "noisy", blank=True),
    *quiz_mistakes(DENSE, "test_blank_size", "answer_blank_size", "overcomplete", blank=True),
]

# --------------------------------------------------------------------------- 02-sparse
SPARSE_MISTAKES = [
    Mistake("test_l1_penalty", "missing batch mean", replace=("z.abs().sum(dim=1).mean()", "z.abs().sum()"),
            keyword="batch"),
    Mistake("test_l1_penalty", "no absolute value", replace=("z.abs()", "z"), keyword="negative"),
    Mistake("test_l1_penalty", "mean over units too", replace=("z.abs().sum(dim=1).mean()", "z.abs().mean()"),
            keyword="units"),
    Mistake("test_l1_penalty", "wrong dim", replace=("sum(dim=1)", "sum(dim=0)"), keyword="dim"),
    Mistake("test_l1_penalty", "squares instead of absolute values", replace=("z.abs()", "z.pow(2)"),
            keyword="absolute"),
    Mistake("test_l1_penalty", "Python float", replace=(".mean()", ".mean().item()"), keyword="float"),
    Mistake("test_normalize_columns", "in place", replace=("return W / W.norm(dim=0, keepdim=True)",
                                                        "W /= W.norm(dim=0, keepdim=True)\n    return W"),
            keyword="in place"),
    Mistake("test_normalize_columns", "rows instead of columns", replace=("dim=0", "dim=1"), keyword="rows"),
    Mistake("test_normalize_columns", "squared norm", replace=("W.norm(dim=0, keepdim=True)", "W.pow(2).sum(0, keepdim=True)"),
            keyword="norm"),
    Mistake("test_normalize_columns", "largest entry instead of norm",
            replace=("W.norm(dim=0, keepdim=True)", "W.abs().amax(0, keepdim=True)"), keyword="norm"),
    Mistake("test_normalize_columns", "returns the norms", replace=("W / W.norm", "W.norm"), keyword="shape"),
    Mistake("test_kl_sparsity", "no clamp", replace=(".clamp(1e-6, 1 - 1e-6)", ""), keyword="clamp"),
    Mistake("test_kl_sparsity", "wrong sign", replace=[("torch.log(rho / rho_hat)", "torch.log(rho_hat / rho)"),
                                                     ("torch.log((1 - rho) / (1 - rho_hat))", "torch.log((1 - rho_hat) / (1 - rho))")],
            keyword="negative"),
    Mistake("test_kl_sparsity", "mean over units", replace=(".sum()", ".mean()"), keyword="sum.*units"),
    Mistake("test_kl_sparsity", "rho_hat over the wrong dim", replace=("z.mean(dim=0)", "z.mean(dim=1)"),
            keyword="dim"),
    Mistake("test_kl_sparsity", "second term forgotten",
            replace=(" + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))", ""), keyword="1 - rho"),
    Mistake("test_kl_sparsity", "KL the other way round",
            replace=("rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))",
                     "rho_hat * torch.log(rho_hat / rho) + (1 - rho_hat) * torch.log((1 - rho_hat) / (1 - rho))"),
            keyword="order"),
    Mistake("test_topk_activation", "no ReLU on the kept values", replace=("values.relu()", "values"), keyword="ReLU"),
    Mistake("test_topk_activation", "ReLU without top-k",
            replace=("return torch.zeros_like(pre).scatter(-1, indices, values.relu())", "return pre.relu()"),
            keyword="more than"),
    Mistake("test_topk_activation", "top-k over the batch", replace=("dim=-1)", "dim=0)"), keyword="row"),
    Mistake("test_topk_activation", "smallest k", replace=("dim=-1)", "dim=-1, largest=False)"), keyword="largest"),
    Mistake("test_topk_activation", "values only", replace=("return torch.zeros_like(pre).scatter(-1, indices, values.relu())",
                                                          "return values.relu()"), keyword="shape"),
    Mistake("test_topk_activation", "zeroes the input in place",
            replace=("return torch.zeros_like(pre).scatter(-1, indices, values.relu())",
                     "pre[pre < values[..., -1:]] = 0\n    return pre.relu()"), keyword="in place"),
    *quiz_mistakes(SPARSE, "test_q1", "answer_q1", "a"),
    *quiz_mistakes(SPARSE, "test_q2", "answer_q2", "b"),
    *quiz_mistakes(SPARSE, "test_blank", "answer_blank", "sparse", blank=True),
]

# --------------------------------------------------------------------------- 03-features
FEATURES_MISTAKES = [
    Mistake("test_mmcs", "mean over the learned features", replace=("max(axis=0)", "max(axis=1)"), keyword="TRUE"),
    Mistake("test_mmcs", "rows not normalised",
            replace=[("L = learned / np.linalg.norm(learned, axis=1, keepdims=True)", "L = learned"),
                     ("T = true / np.linalg.norm(true, axis=1, keepdims=True)", "T = true")], keyword="unit length"),
    Mistake("test_mmcs", "absolute cosines", replace=("(L @ T.T)", "np.abs(L @ T.T)"), keyword="sign"),
    Mistake("test_mmcs", "columns normalised", replace=("axis=1, keepdims", "axis=0, keepdims"), keyword="rows"),
    Mistake("test_mmcs", "no mean", replace=(".max(axis=0).mean())", ".max(axis=0))"), keyword="one number"),
    Mistake("test_mmcs", "returns an array",
            replace=("return float((L @ T.T).max(axis=0).mean())", "return (L @ T.T).max(axis=0)"), keyword="one number"),
    Mistake("test_topk_encode", "no pre-bias", replace=("(x - b_dec)", "x"), keyword="b_dec"),
    Mistake("test_topk_encode", "pre-bias added", replace=("(x - b_dec)", "(x + b_dec)"), keyword="b_dec"),
    Mistake("test_topk_encode", "W_enc not transposed", replace=("@ W_enc.T", "@ W_enc"), keyword="W_enc"),
    Mistake("test_topk_encode", "no ReLU", replace=("values.relu()", "values"), keyword="ReLU"),
    Mistake("test_topk_encode", "top-k over the batch", replace=("dim=-1)", "dim=0)"), keyword="row"),
    Mistake("test_auxk_loss", "live latents not masked",
            replace=("masked = pre.masked_fill(~dead, float(\"-inf\"))", "masked = pre"), keyword="live"),
    Mistake("test_auxk_loss", "not normalised", replace=("return error / baseline", "return error"), keyword="divide"),
    Mistake("test_auxk_loss", "baseline not centred",
            replace=("(residual - residual.mean(0)).pow(2)", "residual.pow(2)"), keyword="mean"),
    Mistake("test_auxk_loss", "no case for zero dead latents",
            replace=("    if n_dead == 0:\n        return torch.zeros(())\n", ""), keyword="no latent is dead"),
    Mistake("test_auxk_loss", "W_dec not transposed", replace=("z_aux @ W_dec.T", "z_aux @ W_dec"), keyword="W_dec"),
    *quiz_mistakes(FEATURES, "test_q1", "answer_q1", "a"),
    *quiz_mistakes(FEATURES, "test_blank", "answer_blank", "alive", blank=True, extra=(
        Mistake("test_blank", "synonym the sentence does not fit", source='answer_blank = "inactive"',
                keyword="not an accepted"),
    )),
]

CATALOGUE = {SETUP: SETUP_MISTAKES, DENSE: DENSE_MISTAKES, SPARSE: SPARSE_MISTAKES, FEATURES: FEATURES_MISTAKES}
ALL = [(ch, m) for ch, ms in CATALOGUE.items() for m in ms]


@pytest.mark.parametrize("chapter,mistake", [pytest.param(ch, m, id=f"{ch.chapter}-{m.grade_id}-{m.name}")
                                             for ch, m in ALL])
def test_mistake_fails_public_check_and_names_it(chapter, mistake):
    assert_no_false_green(chapter, mistake)


@pytest.mark.parametrize("chapter,grade_id", [pytest.param(ch, g, id=f"{ch.chapter}-{g}")
                                              for ch in CATALOGUE for g in ch.grade_ids()])
def test_solution_passes_and_stub_fails(chapter, grade_id):
    assert_reference_passes(chapter, grade_id)


@pytest.mark.parametrize("chapter", list(CATALOGUE), ids=lambda ch: ch.chapter)
def test_every_graded_cell_is_catalogued(chapter):
    """Every test cell has mistakes, code exercises at least three."""
    graded = set(chapter.grade_ids())
    per_cell = {g: sum(m.grade_id == g for m in CATALOGUE[chapter]) for g in graded}
    assert all(n >= 3 for n in per_cell.values()), per_cell
    assert {m.grade_id for m in CATALOGUE[chapter]} <= graded


RIGHT_IN_OTHER_FORMS = [
    (SETUP, "test_q1", 'answer_q1 = " B "'), (SETUP, "test_q1", 'answer_q1 = "(b)"'),
    (SETUP, "test_blank", 'answer_blank = "Bottle-neck"'), (SETUP, "test_blank", 'answer_blank = "the bottleneck"'),
    (SETUP, "test_blank", 'answer_blank = "code layer"'),
    (DENSE, "test_q2", 'answer_q2 = "b)"'), (DENSE, "test_blank_denoise", 'answer_blank_denoise = "Noise-free"'),
    (DENSE, "test_blank_size", 'answer_blank_size = "under complete"'),
    (SPARSE, "test_q2", 'answer_q2 = "C."'), (SPARSE, "test_blank", 'answer_blank = "Specific"'),
    (FEATURES, "test_blank", 'answer_blank = " DEAD "'),
]


@pytest.mark.parametrize("chapter,grade_id,answer", [pytest.param(ch, g, a, id=f"{ch.chapter}-{g}-{a}")
                                                     for ch, g, a in RIGHT_IN_OTHER_FORMS])
def test_right_answer_in_another_form_passes_both(chapter, grade_id, answer):
    out = chapter.grade(grade_id, answer)
    assert out.public_passed and out.hidden_passed, (out.public_output, out.hidden_error)
