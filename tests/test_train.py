"""The fit loop, seeding, devices and checkpoints."""

import pytest
import torch

from aecourse.models import DenseAutoencoder
from aecourse.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from aecourse.train import default_device, evaluate, fit, is_grading, seed_everything


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    # low-rank data an autoencoder can learn quickly
    basis = torch.rand(3, 16, generator=g)
    return (torch.rand(n, 3, generator=g) @ basis / 3).clamp(0, 1).view(n, 1, 4, 4)


def _model(seed=0):
    torch.manual_seed(seed)
    return DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=3, hidden=(16,))


def test_fit_lowers_the_loss_and_records_history():
    x = _data()
    model = _model()
    before = evaluate(model, x)
    history = fit(model, x, epochs=30, batch_size=32, lr=1e-2, val_data=x[:64], progress=False)
    assert len(history.train_loss) == 30 and len(history.val_loss) == 30
    assert history.steps == 30 * 8
    assert evaluate(model, x) < 0.5 * before
    assert "epochs=30" in repr(history)


def test_same_seed_same_numbers():
    x = _data()
    runs = []
    for _ in range(2):
        model = _model(seed=1)
        runs.append(fit(model, x, epochs=3, seed=7, progress=False).train_loss)
    assert runs[0] == runs[1]
    other = fit(_model(seed=1), x, epochs=3, seed=8, progress=False).train_loss
    assert other != runs[0]


def test_loss_fn_logs_are_averaged():
    x = _data(64)

    def loss_fn(model, batch):
        loss = torch.mean((model(batch) - batch) ** 2)
        return loss, {"double": 2 * loss.item()}

    h = fit(_model(), x, loss_fn=loss_fn, epochs=2, batch_size=64, progress=False)
    assert h.logs["double"][0] == pytest.approx(2 * h.train_loss[0])


def test_after_step_hook_runs_every_step():
    calls = []
    fit(_model(), _data(64), epochs=2, batch_size=16, progress=False, after_step=lambda m: calls.append(1))
    assert len(calls) == 8


def test_fit_validates_arguments():
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit(_model(), _data(), epochs=0)
    with pytest.raises(TypeError, match="must be a Tensor"):
        fit(_model(), [[1, 2]], epochs=1)


def test_device_choice(monkeypatch):
    monkeypatch.delenv("AECOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert default_device().type == expected
    monkeypatch.setenv("AECOURSE_DEVICE", "cpu")
    assert default_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            default_device("cuda")


def test_is_grading(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not is_grading()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert is_grading()


def test_seed_everything_returns_seeded_generator():
    a = torch.rand(3, generator=seed_everything(3))
    b = torch.rand(3, generator=seed_everything(3))
    assert torch.equal(a, b)


def test_checkpoint_round_trip(tmp_path):
    model = _model()
    fit(model, _data(), epochs=2, progress=False)
    path = save_checkpoint(model, tmp_path / "ae.pt", note="hello", losses=[1.0, 0.5])
    rebuilt, meta = load_checkpoint(path)
    assert meta == {"note": "hello", "losses": [1.0, 0.5]}
    x = _data(8)
    assert torch.equal(rebuilt(x), model(x))
    into, _ = load_checkpoint(path, _model(seed=9))
    assert torch.equal(into(x), model(x))


def test_checkpoint_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoint_corrupt_or_truncated(tmp_path):
    path = save_checkpoint(_model(), tmp_path / "ae.pt")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "junk.pt")


def test_checkpoint_edited_weights_fail_hash(tmp_path):
    model = _model()
    path = save_checkpoint(model, tmp_path / "ae.pt")
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] += 1.0
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path)


def test_checkpoint_not_ours(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an aecourse checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_mismatched_model(tmp_path):
    path = save_checkpoint(_model(), tmp_path / "ae.pt")
    bigger = DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=5, hidden=(16,))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(path, bigger)
    with pytest.raises(CheckpointError, match="holds a DenseAutoencoder"):
        load_checkpoint(path, torch.nn.Linear(2, 2))
