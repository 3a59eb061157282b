"""The sparse autoencoder of chapters 02-sparse and 03-features, its losses and its dead-latent tools.

The sparse autoencoder (SAE) of interpretability research is one linear
encoder, a sparsifying activation and one linear decoder:

    z     = act(W_enc (x - b_dec) + b_enc)        codes, (batch, latent_dim)
    x_hat = W_dec z + b_dec                       reconstruction, (batch, d)

Column j of W_dec is latent j's *feature*: the direction in input space that
unit j writes when it fires. Sparsity comes either from a penalty in the
loss (L1, KL) or from the activation itself (TopK). It takes vectors
``(batch, d)`` as well as images, and has the API of :mod:`aecourse.models`
(``encode``, ``decode``, ``config``, ``latent_dim``), so :func:`aecourse.train.fit`
and :mod:`aecourse.checkpoints` work with it unchanged. References:

* Ng, "Sparse autoencoder", CS294A lecture notes (2011)            -- KL(rho)
* Makhzani & Frey, "k-Sparse Autoencoders" (2013)                  -- TopK
* Sharkey, Braun & Millidge, "Taking features out of superposition
  with sparse autoencoders" (2022)                                 -- L1, synthetic features
* Bricken et al., "Towards Monosemanticity" (Anthropic, 2023)      -- pre-bias, resampling
* Gao et al., "Scaling and evaluating sparse autoencoders" (2024)  -- TopK, AuxK loss, init

Imports: :mod:`aecourse.contracts` and :mod:`aecourse.train` (``train_sae`` calls :func:`~aecourse.train.fit`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from .contracts import LossFn, check_choice, check_int, check_number, invalid
from .train import TrainingThreads, fit

__all__ = [
    "SparseAutoencoderConfig",
    "SparseAutoencoder",
    "SPARSE_ACTIVATIONS",
    "topk_activation",
    "kl_sparsity_penalty",
    "topk_aux_loss",
    "l1_loss",
    "kl_sparsity_loss",
    "topk_loss",
    "resample_dead_units_",
    "SAE_RECIPES",
    "train_sae",
]

SPARSE_ACTIVATIONS = ("relu", "topk", "sigmoid")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass
class SparseAutoencoderConfig:
    """Everything needed to rebuild a :class:`SparseAutoencoder`.

    Parameters
    ----------
    in_shape : int or tuple of int
        Shape of one input: ``(d,)`` (or just ``d``) for vectors, such as the
        synthetic sparse features; ``(1, 28, 28)`` for images, which are
        flattened on the way in and unflattened on the way out.
    latent_dim : int
        Number of latent units (dictionary size). Larger than ``d`` is normal:
        a sparse code can be *overcomplete*.
    activation : {"relu", "topk", "sigmoid"}
        ``"relu"`` for an L1 penalty, ``"topk"`` to keep exactly the ``k``
        largest pre-activations (ReLU-ed), ``"sigmoid"`` for the KL(rho)
        sparse autoencoder of Ng's notes (KL needs codes in (0, 1)).
    k : int or None
        Active units per input for ``activation="topk"``; must be None otherwise.
    output : {"identity", "sigmoid"}
        Activation on the reconstruction. ``"identity"`` is the linear decoder
        of the SAE literature (and what the dead-latent tools assume);
        ``"sigmoid"`` keeps image pixels in [0, 1].
    """

    in_shape: tuple[int, ...] = (32,)
    latent_dim: int = 128
    activation: str = "relu"
    k: int | None = None
    output: str = "identity"

    def __post_init__(self):
        if isinstance(self.in_shape, int):
            self.in_shape = (self.in_shape,)
        try:
            self.in_shape = tuple(int(s) for s in self.in_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"in_shape must be an int d (vectors) or a tuple such as (1, 28, 28) (images), got {self.in_shape!r}"
            ) from None
        if not self.in_shape or min(self.in_shape) < 1:
            raise ValueError(f"in_shape must hold positive sizes, e.g. (32,) or (1, 28, 28), got {self.in_shape}")
        self.latent_dim = check_int("latent_dim", self.latent_dim, low=1)
        if self.activation not in SPARSE_ACTIVATIONS:
            raise ValueError(
                f"unknown sparse activation {self.activation!r}; expected one of {list(SPARSE_ACTIVATIONS)}"
            )
        check_choice("output", self.output, ("identity", "sigmoid"))
        if self.activation == "topk":
            if not (_is_int(self.k) and 1 <= self.k <= self.latent_dim):
                raise ValueError(
                    f"activation='topk' needs k, the number of active units per input, an integer from 1 to "
                    f"latent_dim={self.latent_dim}; got k={self.k!r}"
                )
            self.k = int(self.k)
        elif self.k is not None:
            raise ValueError(f"k={self.k} is only used with activation='topk' (got activation={self.activation!r}); "
                             "drop k or set activation='topk'")

    @property
    def in_dim(self) -> int:
        """Length of one flattened input."""
        return prod(self.in_shape)


def topk_activation(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest pre-activations of each row, ReLU them, zero the rest.

    The k-sparse activation of Makhzani & Frey (2013), as used by Gao et al.
    (2024): sparsity is *exact* (at most ``k`` nonzeros per input; fewer only
    when fewer than ``k`` pre-activations are positive), so no penalty
    needs tuning and no penalty shrinks the codes.

    Parameters
    ----------
    pre : Tensor, shape (batch, latent_dim)
    k : int, 1 <= k <= latent_dim

    Returns
    -------
    z : Tensor, shape (batch, latent_dim)
        Gradients flow to the ``k`` kept entries only.
    """
    if not 1 <= k <= pre.shape[-1]:
        raise ValueError(f"k must be between 1 and the number of units ({pre.shape[-1]}), got {k}")
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())


class SparseAutoencoder(nn.Module):
    """One-layer sparse autoencoder with a tied pre-bias (the SAE of interpretability research).

    ``z = act(W_enc (x - b_dec) + b_enc)``, ``x_hat = out(W_dec z + b_dec)``.

    Attributes
    ----------
    encoder : nn.Linear(d, latent_dim)
        ``encoder.weight`` is W_enc, shape (latent_dim, d); ``encoder.bias`` is b_enc.
    decoder : nn.Linear(latent_dim, d, bias=False)
        ``decoder.weight`` is W_dec, shape (d, latent_dim): **column j is
        latent j's feature direction**.
    b_dec : nn.Parameter, shape (d,)
        The decoder bias, also subtracted before encoding (the "pre-bias" of
        Bricken et al. 2023): the code then describes how an input departs
        from a typical input, not where it sits.
    steps_since_fired : buffer, shape (latent_dim,), int64
        Training steps since each unit was last active, updated by the losses
        below (:meth:`record_activity_`); :meth:`dead_latents` reads it.
    dictionary : Tensor, shape (latent_dim, d)
        The decoder's features as *rows* (a detached copy), the layout that
        :mod:`aecourse.metrics` and the synthetic data's ``dictionary`` use.

    Same API as the course's other models (``encode``, ``decode``, ``forward``,
    ``config``, ``latent_dim``), so :func:`aecourse.train.fit` and the
    checkpoint functions work unchanged. Inputs are ``(batch, *in_shape)``:
    ``(batch, d)`` vectors, or images such as ``(batch, 1, 28, 28)``.

    Initialisation (Gao et al. 2024): decoder columns are random unit
    vectors, the encoder is the decoder's transpose (so each unit starts out
    detecting the very direction it writes), both biases are zero. Call
    :meth:`init_b_dec_` with (a sample of) the data to start ``b_dec`` at
    its centre.

    Examples
    --------
    >>> sae = SparseAutoencoder(in_shape=32, latent_dim=128, activation="topk", k=4)
    >>> z = sae.encode(torch.randn(10, 32))      # (10, 128), 4 nonzeros per row at most
    >>> sae(torch.randn(10, 32)).shape
    torch.Size([10, 32])
    """

    config_class = SparseAutoencoderConfig
    config: SparseAutoencoderConfig

    def __init__(self, config: SparseAutoencoderConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and kwargs:
            raise TypeError(f"give either a config or keyword arguments, not both (got config and {sorted(kwargs)})")
        self.config = config = config or SparseAutoencoderConfig(**kwargs)
        d, m = config.in_dim, config.latent_dim
        self.b_dec = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Linear(d, m)
        self.decoder = nn.Linear(m, d, bias=False)
        self.register_buffer("steps_since_fired", torch.zeros(m, dtype=torch.long))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Unit-norm random decoder columns, encoder = decoder transposed, zero biases."""
        self.decoder.weight.normal_()
        self.normalize_decoder_()
        self.encoder.weight.copy_(self.decoder.weight.T)
        self.encoder.bias.zero_()
        self.b_dec.zero_()
        self.steps_since_fired.zero_()

    # -- shapes --------------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _flat_input(self, x: torch.Tensor) -> torch.Tensor:
        want = self.config.in_shape
        if x.dim() != len(want) + 1 or tuple(x.shape[1:]) != want:
            hint = (" Add the channel axis with x.unsqueeze(1) if it is missing." if len(want) == 3 else
                    " Flatten images first (x.flatten(1)) or build the model with in_shape=images.shape[1:].")
            raise ValueError(
                f"SparseAutoencoder expects inputs of shape (batch, {', '.join(map(str, want))}), "
                f"got {tuple(x.shape)}.{hint}"
            )
        return x.reshape(len(x), -1)

    # -- the model -----------------------------------------------------------

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``W_enc (x - b_dec) + b_enc`` before the sparsifying activation, shape (batch, latent_dim)."""
        return self.encoder(self._flat_input(x) - self.b_dec)

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """The configured activation applied to pre-activations (batch, latent_dim)."""
        if self.config.activation == "topk":
            return topk_activation(pre, self.config.k)
        if self.config.activation == "sigmoid":
            return torch.sigmoid(pre)
        return torch.relu(pre)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs ``(batch, *in_shape)`` to sparse codes ``(batch, latent_dim)``."""
        return self.activate(self.pre_activations(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, latent_dim)`` to reconstructions ``(batch, *in_shape)``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode expects codes of shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        x_hat = self.decoder(z) + self.b_dec
        if self.config.output == "sigmoid":
            x_hat = torch.sigmoid(x_hat)
        return x_hat.reshape(len(z), *self.config.in_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @property
    def dictionary(self) -> torch.Tensor:
        """Decoder features as rows, shape (latent_dim, d): ``dictionary[j]`` is column j of W_dec."""
        return self.decoder.weight.detach().T.clone()

    # -- keeping the decoder honest -----------------------------------------

    @torch.no_grad()
    def normalize_decoder_(self, eps: float = 1e-8) -> None:
        """Rescale every decoder column (feature) to unit length, in place.

        Why: an L1 penalty charges ``|z_j|``, but the reconstruction only sees
        the product ``z_j * W_dec[:, j]``. Without a constraint the model can
        halve every code and double every decoder column: same reconstruction,
        half the penalty, and again, and again -- the penalty is cheated rather
        than obeyed, and codes shrink towards zero while features grow. Fixing
        each column's norm at 1 closes that loophole, so the penalty really
        buys sparsity. TopK has no penalty to cheat and needs it less, but unit
        columns keep the units' scales comparable (a code value then *is* the
        length of that feature's contribution), which is what activation
        tables and feature comparisons assume.

        Call it after every optimiser step: ``fit(..., after_step=lambda m:
        m.normalize_decoder_())``. (Anthropic's later recipe instead
        multiplies the L1 term by the column norms; the effect is the same.)
        """
        w = self.decoder.weight  # (d, latent_dim): columns are features
        w /= w.norm(dim=0, keepdim=True).clamp_min(eps)

    @torch.no_grad()
    def init_b_dec_(self, x: torch.Tensor, method: str = "median", iters: int = 50) -> torch.Tensor:
        """Start ``b_dec`` at the centre of the data: its geometric median or mean.

        Bricken et al. (2023) initialise the pre-bias at the geometric median
        (the point with the least total *distance* to the data, robust to
        outliers), found here with Weiszfeld's iterations. Returns the new ``b_dec``.

        Parameters
        ----------
        x : Tensor, shape (n, *in_shape)
            A sample of training inputs (a few thousand is plenty).
        method : {"median", "mean"}
        iters : int
            Weiszfeld iterations for the median.
        """
        if self.config.output != "identity":
            raise ValueError(
                "init_b_dec_ places b_dec at a point in input space, but with output='sigmoid' the decoder "
                "bias sits before the sigmoid. Leave b_dec at zero, or use output='identity'."
            )
        flat = self._flat_input(torch.as_tensor(x, dtype=self.b_dec.dtype).to(self.b_dec.device))
        if method == "mean":
            centre = flat.mean(0)
        elif method == "median":
            centre = flat.mean(0)
            for _ in range(iters):  # Weiszfeld: a mean weighted by 1 / distance
                w = 1.0 / (flat - centre).norm(dim=1).clamp_min(1e-8)
                centre = (w[:, None] * flat).sum(0) / w.sum()
        else:
            raise ValueError(f"method must be 'median' or 'mean', got {method!r}")
        self.b_dec.copy_(centre)
        return self.b_dec.detach().clone()

    # -- dead latents --------------------------------------------------------

    @torch.no_grad()
    def record_activity_(self, z: torch.Tensor, threshold: float = 0.0) -> None:
        """Count one training step for every unit; reset the count of units active in ``z``.

        ``z`` is a batch of codes (batch, latent_dim); a unit is active when its
        code exceeds ``threshold`` for at least one input. The losses below call
        this on every training batch (not in eval mode).
        """
        self.steps_since_fired += 1
        self.steps_since_fired[(z > threshold).any(dim=0)] = 0

    def dead_latents(self, steps: int) -> torch.Tensor:
        """Boolean mask (latent_dim,) of units that have not fired for ``steps`` training steps."""
        return self.steps_since_fired >= steps

    def extra_repr(self) -> str:
        c = self.config
        k = f", k={c.k}" if c.k is not None else ""
        return f"in_shape={c.in_shape}, latent_dim={c.latent_dim}, activation={c.activation!r}{k}, output={c.output!r}"


# --------------------------------------------------------------------------- sparse losses
#
# Each factory returns a plain function ``loss_fn(model, batch) -> (loss, logs)``
# that aecourse.train.fit accepts. The reconstruction term is the squared
# error summed over input dimensions and averaged over the batch, ``E ||x -
# x_hat||^2``, so penalty coefficients do not depend on the batch size.

def _squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``E ||x - x_hat||^2``: sum over input dimensions, mean over the batch."""
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def _sparsity_logs(recon: torch.Tensor, z: torch.Tensor, **terms: torch.Tensor) -> dict[str, float]:
    logs = {"recon": recon.item(), "l0": (z > 0).float().sum(1).mean().item()}
    logs.update({name: float(t.detach()) for name, t in terms.items()})
    return logs


def _check_rho(rho) -> float:
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0 < rho < 1:
        raise invalid("rho", "a target firing rate strictly between 0 and 1", rho)
    return float(rho)


def _expect_activation(model: nn.Module, allowed: tuple[str, ...], loss: str, fix: str) -> None:
    act = getattr(getattr(model, "config", None), "activation", None)
    if act not in allowed:
        raise ValueError(f"{loss} needs a SparseAutoencoder with activation in {list(allowed)}, "
                         f"but the model has activation={act!r}. {fix}")


def l1_loss(l1_coeff: float = 0.3) -> LossFn:
    """Reconstruction plus an L1 penalty on the codes (Sharkey et al. 2022).

    ``loss = E ||x - x_hat||^2 + l1_coeff * E sum_j |z_j|``

    Use with ``activation="relu"`` and renormalise the decoder after every
    step (see :meth:`SparseAutoencoder.normalize_decoder_` for why). Too
    small a coefficient leaves the code dense; too large kills units and
    shrinks the codes that survive. The default, 0.3, is the
    ``SAE_RECIPES["l1"]`` value for the synthetic features (inputs of squared
    norm ~4); rescale it with the squared norm of your inputs.

    Returns
    -------
    loss_fn(model, x) -> (loss, logs)
        ``logs``: ``recon``, ``l1`` (mean sum of |z|), ``l0`` (mean active units).
    """
    l1_coeff = check_number("l1_coeff", l1_coeff, low=0)

    def loss_fn(model: nn.Module, x: torch.Tensor):
        z = model.encode(x)
        recon = _squared_error(x, model.decode(z))
        l1 = z.abs().sum(1).mean()
        if model.training and hasattr(model, "record_activity_"):
            model.record_activity_(z)
        return recon + l1_coeff * l1, _sparsity_logs(recon, z, l1=l1)

    return loss_fn


def kl_sparsity_penalty(z: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """``sum_j KL(rho || rho_hat_j)`` with ``rho_hat_j`` unit j's mean activation over the batch.

    Ng's sparse autoencoder (CS294A notes, 2011): each unit should be active
    (close to 1) a fraction ``rho`` of the time, and

        KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)),

    is zero when ``rho_hat == rho`` and grows steeply as ``rho_hat`` nears 0 or 1.
    ``rho_hat`` is clamped to ``[eps, 1 - eps]`` to keep the logs finite.

    Parameters
    ----------
    z : Tensor, shape (batch, latent_dim), values in [0, 1] (sigmoid codes)
    rho : float in (0, 1)

    Returns
    -------
    Tensor, shape ()
    """
    _check_rho(rho)
    if z.numel() and (z.min() < 0 or z.max() > 1):
        raise ValueError(
            f"KL sparsity needs activations in (0, 1) (they are read as firing probabilities), got values from "
            f"{z.min().item():.3g} to {z.max().item():.3g}. Use activation='sigmoid'."
        )
    rho_hat = z.mean(0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_sparsity_loss(rho: float = 0.05, beta: float = 3.0) -> LossFn:
    """Reconstruction plus Ng's KL sparsity penalty: ``E ||x - x_hat||^2 + beta * sum_j KL(rho || rho_hat_j)``.

    Needs ``activation="sigmoid"`` (codes in (0, 1)). ``rho_hat`` is measured
    on each batch, so use batches large enough to estimate a rate of ``rho``
    (a few hundred inputs for rho = 0.05).

    Returns
    -------
    loss_fn(model, x) -> (loss, logs)
        ``logs``: ``recon``, ``kl``, ``mean_activation`` (mean of rho_hat).
    """
    beta = check_number("beta", beta, low=0)
    rho = _check_rho(rho)

    def loss_fn(model: nn.Module, x: torch.Tensor):
        _expect_activation(model, ("sigmoid",), "kl_sparsity_loss",
                           "Build it with SparseAutoencoder(..., activation='sigmoid').")
        z = model.encode(x)
        recon = _squared_error(x, model.decode(z))
        kl = kl_sparsity_penalty(z, rho)
        logs = {"recon": recon.item(), "kl": kl.item(), "mean_activation": z.mean().item()}
        return recon + beta * kl, logs

    return loss_fn


def topk_aux_loss(model: "SparseAutoencoder", x: torch.Tensor, x_hat: torch.Tensor, pre: torch.Tensor,
                  dead: torch.Tensor, aux_k: int) -> torch.Tensor:
    """The auxiliary dead-latent loss "AuxK" of Gao et al. (2024), section A.2.

    Dead units get no gradient from a TopK model (they are never among the
    top k), so they stay dead. AuxK gives them a job: reconstruct what the
    live units *missed*, the residual ``e = x - x_hat``, using only the
    ``aux_k`` largest pre-activations among the dead units:

        e_hat = W_dec TopK_aux_k(pre masked to dead units)
        aux   = ||e - e_hat||^2 / ||e - mean(e)||^2     (a normalised MSE)

    The residual is a constant here (detached), so only dead units learn from
    this term, and they move towards the directions the model lacks.

    Parameters
    ----------
    model : SparseAutoencoder
    x, x_hat : Tensor, shape (batch, *in_shape)
        Inputs and the model's reconstruction of them.
    pre : Tensor, shape (batch, latent_dim)
        The model's pre-activations for ``x``.
    dead : Tensor of bool, shape (latent_dim,)
        Which units count as dead (e.g. ``model.dead_latents(steps)``).
    aux_k : int
        How many dead units may help per input.

    Returns
    -------
    Tensor, shape ()
        Exactly zero when no unit is dead.
    """
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    residual = (x - x_hat).detach().flatten(1)
    masked = pre.masked_fill(~dead, float("-inf"))  # live units can never be picked
    z_aux = topk_activation(masked, min(aux_k, n_dead))
    residual_hat = model.decoder(z_aux)  # no b_dec: the residual has no offset to restore
    baseline = (residual - residual.mean(0)).pow(2).sum(1).mean().clamp_min(1e-12)
    return (residual_hat - residual).pow(2).sum(1).mean() / baseline


def topk_loss(aux_k: int | None = None, aux_coeff: float = 1 / 32, dead_steps_threshold: int = 200) -> LossFn:
    """Reconstruction of a TopK model plus the AuxK dead-latent loss (Gao et al. 2024).

    ``loss = E ||x - x_hat||^2 + aux_coeff * AuxK``, see :func:`topk_aux_loss`.
    A unit counts as dead once it has not fired for ``dead_steps_threshold``
    training steps (tracked on the model in ``model.steps_since_fired``;
    Gao et al. count 10M tokens, we count batches because our datasets are
    small). ``aux_coeff=0`` gives plain TopK.

    Parameters
    ----------
    aux_k : int or None
        Dead units used per input; None means ``d // 2`` as in Gao et al.
    aux_coeff : float
        Weight of the auxiliary loss (Gao et al. use 1/32).
    dead_steps_threshold : int
        Steps without firing after which a unit is dead.

    Returns
    -------
    loss_fn(model, x) -> (loss, logs)
        ``logs``: ``recon``, ``aux``, ``l0``, ``dead`` (fraction of dead units).
    """
    aux_coeff = check_number("aux_coeff", aux_coeff, low=0)
    if aux_k is not None and (not _is_int(aux_k) or aux_k < 1):
        raise invalid("aux_k", "a positive integer or None (d // 2)", aux_k)
    dead_steps_threshold = check_int("dead_steps_threshold", dead_steps_threshold, low=1,
                                     fix="it counts training steps without firing")

    def loss_fn(model: nn.Module, x: torch.Tensor):
        _expect_activation(model, ("topk",), "topk_loss",
                           "Build it with SparseAutoencoder(..., activation='topk', k=...).")
        pre = model.pre_activations(x)
        z = model.activate(pre)
        x_hat = model.decode(z)
        recon = _squared_error(x, x_hat)
        if model.training:
            model.record_activity_(z)
        dead = model.dead_latents(dead_steps_threshold)
        aux = (topk_aux_loss(model, x, x_hat, pre, dead, aux_k or max(1, model.config.in_dim // 2))
               if aux_coeff > 0 else pre.new_zeros(()))
        return recon + aux_coeff * aux, _sparsity_logs(recon, z, aux=aux, dead=dead.float().mean())

    return loss_fn


# --------------------------------------------------------------------------- resampling dead units
@torch.no_grad()
def resample_dead_units_(model: SparseAutoencoder, x: torch.Tensor, *, dead: torch.Tensor | None = None,
                         optimizer: torch.optim.Optimizer | None = None, encoder_scale: float = 0.2,
                         batch_size: int = 4096, seed: int = 0) -> int:
    """Give dead units a fresh start pointing at inputs the model reconstructs badly.

    The resampling of Bricken et al. (2023, "Towards Monosemanticity"):

    1. find the dead units (never active on ``x``, unless ``dead`` is given);
    2. draw one input per dead unit with probability proportional to its
       *squared* reconstruction loss, so badly explained inputs win;
    3. set the unit's decoder column to that input's reconstruction error,
       normalised to unit length (the direction the dictionary is missing;
       the paper uses the input itself, the error is a common variant that
       points more directly at what is absent), its encoder row to the same
       direction scaled to ``encoder_scale`` times the mean norm of the live
       encoder rows, and its encoder bias to 0;
    4. zero the Adam moments of the changed weights (``optimizer``, if given),
       so stale momentum does not drag them straight back.

    Call it every few thousand steps during training (e.g. from an
    ``after_step`` hook that counts steps, passing fit the optimizer you made).

    Parameters
    ----------
    model : SparseAutoencoder
    x : Tensor, shape (n, *in_shape)
        Inputs to measure activity and loss on.
    dead : bool Tensor (latent_dim,), optional
        Units to resample; default: units with no activation on ``x``.
    optimizer : torch.optim.Optimizer, optional
        Whose per-parameter state (Adam's ``exp_avg``, ``exp_avg_sq``) is reset for the changed units.
    encoder_scale : float
        New encoder rows get this fraction of the live rows' mean norm.

    Returns
    -------
    int
        The number of units resampled.
    """
    if not isinstance(model, SparseAutoencoder):
        raise invalid("model", "a SparseAutoencoder (resample_dead_units_ works on one)", type(model).__name__,
                      error=TypeError, shown=True)
    device = model.b_dec.device
    x = torch.as_tensor(x, dtype=torch.float32).to(device)
    was_training = model.training
    model.eval()
    fired = torch.zeros(model.latent_dim, dtype=torch.bool, device=device)
    errors, losses = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        z = model.encode(batch)
        fired |= (z > 0).any(0)
        error = (batch - model.decode(z)).flatten(1)
        errors.append(error)
        losses.append(error.pow(2).sum(1))
    model.train(was_training)
    dead = ~fired if dead is None else torch.as_tensor(dead, dtype=torch.bool, device=device)
    if dead.shape != (model.latent_dim,):
        raise ValueError(f"dead must be a boolean mask of shape ({model.latent_dim},), got {tuple(dead.shape)}")
    units = dead.nonzero().flatten()
    if len(units) == 0:
        return 0
    errors, weights = torch.cat(errors), torch.cat(losses).pow(2)
    if weights.sum() <= 0:  # a perfect model: nothing to point the units at
        return 0
    generator = torch.Generator(device=device).manual_seed(seed)
    picks = torch.multinomial(weights, len(units), replacement=len(units) > len(weights), generator=generator)
    directions = errors[picks] / errors[picks].norm(dim=1, keepdim=True).clamp_min(1e-8)  # (n_dead, d)

    alive_rows = model.encoder.weight[~dead]
    enc_norm = alive_rows.norm(dim=1).mean() if len(alive_rows) else torch.tensor(1.0, device=device)
    model.decoder.weight[:, units] = directions.T
    model.encoder.weight[units] = directions * (encoder_scale * enc_norm)
    model.encoder.bias[units] = 0.0
    model.steps_since_fired[units] = 0

    if optimizer is not None:
        for param, index in ((model.decoder.weight, (slice(None), units)), (model.encoder.weight, units),
                             (model.encoder.bias, units)):
            for moment in optimizer.state.get(param, {}).values():
                if isinstance(moment, torch.Tensor) and moment.shape == param.shape:
                    moment[index] = 0.0
    return len(units)


# --------------------------------------------------------------------------- recipes
#
# Settings that recover the synthetic features of make_sparse_features()
# (default preset: d=32, 64 features, ~4 active) with MMCS >= 0.98 and >= 95% of
# the features at cosine > 0.9, for every seed we tried, in a few seconds on
# two CPU cores. benchmarks/bench_features.py measures them.
#
# * "l1":   a dictionary the size of the truth. With 2x more latents L1 splits
#           features between near-duplicates and MMCS stalls near 0.975.
# * "topk": k = the typical number of active features; 2x overcomplete, because
#           at exactly 64 latents TopK settles on merged features (~85% found).
SAE_RECIPES: dict[str, dict] = {
    "l1": dict(activation="relu", latent_dim=64, l1_coeff=0.3,
               n_train=20_000, epochs=100, batch_size=256, lr=3e-3),
    "topk": dict(activation="topk", latent_dim=128, k=4, aux_k=None, aux_coeff=1 / 32, dead_steps_threshold=200,
                 n_train=20_000, epochs=30, batch_size=256, lr=3e-3),
}


def train_sae(data, recipe: str | dict = "topk", *, seed: int = 0, progress: bool = False, threads: int | None = None,
              device: torch.device | str | None = None, **overrides):
    """Build and train a :class:`SparseAutoencoder` from a recipe in :data:`SAE_RECIPES`.

    The whole recipe, spelled out, is what this function does:

    1. ``torch.manual_seed(seed)``; build the model (``in_shape`` from the data);
    2. ``model.init_b_dec_(x[:2000])`` (geometric median), for linear outputs;
    3. ``fit(model, x, loss_fn=l1_loss(...) or topk_loss(...), epochs, batch_size,
       lr, seed=seed, after_step=SparseAutoencoder.normalize_decoder_)``.

    Parameters
    ----------
    data : Tensor (n, *in_shape), or a dataset with ``.x`` (SparseFeatures) or ``.images``
        Training inputs. The recipe's ``n_train`` is a suggestion for
        :func:`~aecourse.data.make_sparse_features`; all of ``data`` is used.
    recipe : "l1", "topk", or a dict with the same keys
    seed : int
        Seeds the initialisation and the batch order.
    progress : bool
        Show :func:`~aecourse.train.fit`'s progress line.
    threads : int or None
        torch threads while training (the previous setting is restored after).
        None (the default) follows the machine's load, as :func:`fit` does
        (:class:`aecourse.train.TrainingThreads`): on a machine shared with
        other work (a 2-core CI runner, a notebook beside a grading run)
        several threads wait on each other and can run many times slower,
        so training drops to the cores left idle.
    device : optional
        Where to train (default: :func:`aecourse.train.default_device`); the model stays there.
    **overrides
        Any recipe key, e.g. ``latent_dim=96, epochs=10, l1_coeff=1.0``.

    Returns
    -------
    (SparseAutoencoder, History)
    """
    if isinstance(recipe, str):
        if recipe not in SAE_RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(SAE_RECIPES)} or pass a dict")
        recipe = SAE_RECIPES[recipe]
    r = {**recipe, **overrides}
    known = {"activation", "latent_dim", "k", "output", "l1_coeff", "aux_k", "aux_coeff", "dead_steps_threshold",
             "n_train", "epochs", "batch_size", "lr", "rho", "beta"}
    unknown = sorted(set(r) - known)
    if unknown:
        raise ValueError(f"unknown recipe keys {unknown}; known keys are {sorted(known)}")
    x = getattr(data, "x", None)
    x = getattr(data, "images", data) if x is None else x
    x = torch.as_tensor(x, dtype=torch.float32)

    torch.manual_seed(seed)
    # The set-up runs under the thread policy too: the 50 Weiszfeld iterations of the geometric median are
    # many small operations, which with two threads on a busy machine took longer than the training itself.
    with TrainingThreads(threads):
        model = SparseAutoencoder(in_shape=tuple(x.shape[1:]), latent_dim=r["latent_dim"],
                                  activation=r["activation"], k=r.get("k") if r["activation"] == "topk" else None,
                                  output=r.get("output", "identity"))
        if model.config.output == "identity":
            model.init_b_dec_(x[:2000])
    if r["activation"] == "topk":
        loss_fn = topk_loss(aux_k=r.get("aux_k"), aux_coeff=r.get("aux_coeff", 1 / 32),
                            dead_steps_threshold=r.get("dead_steps_threshold", 200))
    elif r["activation"] == "sigmoid":
        loss_fn = kl_sparsity_loss(rho=r.get("rho", 0.05), beta=r.get("beta", 3.0))
    else:
        loss_fn = l1_loss(r["l1_coeff"])
    history = fit(model, x, loss_fn=loss_fn, epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
                  seed=seed, progress=progress, device=device, after_step=SparseAutoencoder.normalize_decoder_,
                  threads=threads)
    return model, history
