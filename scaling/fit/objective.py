"""The fitting objective: Huber on log-loss residuals, summed, with exact gradients.

A model maps optimiser coordinates theta (log for scale coefficients such as E, A, B, N_c;
plain for exponents) to predicted log-loss and its Jacobian. Chinchilla's form gets the
log-sum-exp parameterisation with a hand-written gradient; every other law gets exact
complex-step derivatives through its own `predict`, so adding a law needs no gradient code.

Legend: N = params, D = tokens, e, a, b = log E, log A, log B.

References:
    Hoffmann et al. 2022, App. D.2, Eq. 11 (LSE form, Huber with delta = 1e-3, terms summed);
    Besiroglu et al. 2024, Sec. 3 (averaging the Huber terms stalls L-BFGS near its start);
    Squire & Trapp 1998, "Using complex variables to estimate derivatives of real functions".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scaling.laws.base import Array, Law

HOFFMANN_DELTA = 1e-3
"""Huber threshold on log-loss residuals (Hoffmann et al. 2022, Sec. 3.3 and App. D.2)."""

_COMPLEX_STEP = 1e-30  # any tiny step is exact to rounding: no subtractive cancellation


def huber(residuals: Array, delta: float) -> tuple[Array, Array]:
    """Huber_delta(r) = r^2/2 if |r| <= delta else delta (|r| - delta/2), and its derivative.

    Hoffmann et al. 2022, App. D.2 (same definition as scipy.special.huber).
    """
    small = np.abs(residuals) <= delta
    value = np.where(small, 0.5 * residuals**2, delta * (np.abs(residuals) - 0.5 * delta))
    return value, np.clip(residuals, -delta, delta)


class LawModel:
    """log L(theta) for a law through its `predict`, with complex-step exact derivatives."""

    whiten_floor = 1e-10
    """The polish whitens J^T J (engine.preconditioner) with its eigenvalues floored at this share
    of the largest: a direction the start leaves flat moves at most 1/sqrt(floor) times faster."""

    def __init__(self, law: Law, inputs: Mapping[str, Array]):
        self.law = law
        self.inputs = dict(inputs)
        self.log_mask = np.array([n in law.log_coefficients for n in law.param_names])

    def coefficients(self, theta: Array) -> dict[str, Array]:
        """Coefficients from optimiser coordinates; theta is (p,) or (p, ...) for a batch."""
        values = np.where(self.log_mask.reshape((-1,) + (1,) * (theta.ndim - 1)), np.exp(theta), theta)
        return dict(zip(self.law.param_names, values))

    def huber_value_grad(self, theta: Array, log_loss: Array, delta: float) -> tuple[float, Array]:
        """Summed Huber value of the log residuals at theta, and its gradient in theta."""
        predicted, jac = self.log_loss_jac(theta)
        value, slope = huber(predicted - log_loss, delta)
        return float(value.sum()), (slope[:, None] * jac).sum(axis=0)

    def log_loss(self, thetas: Array) -> Array:
        """Predicted log-loss for a batch of coordinates: (G, p) -> (G, n)."""
        coefficients = self.coefficients(thetas.T[..., None])
        with np.errstate(all="ignore"):  # overflowing starts score inf and are never polished
            predicted = self.law.predict(coefficients, **self.inputs)
            return np.where(predicted > 0, np.log(np.abs(predicted)), np.inf)

    def log_loss_jac(self, theta: Array) -> tuple[Array, Array]:
        """Predicted log-loss (n,) and its Jacobian (n, p) at one point, exact to rounding."""
        p = theta.size
        stepped = theta[:, None] + 1j * _COMPLEX_STEP * np.eye(p)  # column k steps theta_k
        coefficients = {name: np.where(mask, np.exp(row), row)[:, None]
                        for name, mask, row in zip(self.law.param_names, self.log_mask, stepped)}
        with np.errstate(all="ignore"):
            log_predicted = np.log(self.law.predict(coefficients, **self.inputs))  # (p, n)
        return log_predicted[0].real, (log_predicted.imag / _COMPLEX_STEP).T


class ChinchillaLseModel(LawModel):
    """Hoffmann et al. 2022, App. D.2, Eq. 11: the LSE form with a hand-written gradient.

        log L = LSE(a - alpha log N, b - beta log D, e),  theta = (e, a, b, alpha, beta)
    in `param_names` order (E, A, B, alpha, beta).
    """

    def __init__(self, law: Law, inputs: Mapping[str, Array]):
        super().__init__(law, inputs)
        self.log_params = np.log(self.inputs["params"])
        self.log_tokens = np.log(self.inputs["tokens"])
        n = self.log_params.size
        # d(terms)/d(theta), rows [e; a - alpha log N; b - beta log D] stacked: (3n, 5).
        self.design = np.zeros((3 * n, 5))
        self.design[:n, 0] = 1.0
        self.design[n:2 * n, 1], self.design[n:2 * n, 3] = 1.0, -self.log_params
        self.design[2 * n:, 2], self.design[2 * n:, 4] = 1.0, -self.log_tokens

    def huber_value_grad(self, theta: Array, log_loss: Array, delta: float) -> tuple[float, Array]:
        # The hot path of fits and bootstraps, fused: the three LSE terms are one matrix-vector
        # product (they are linear in theta), and so is the gradient. Huber via c = clip(r):
        # Huber_delta(r) = c (r - c/2), Huber'(r) = c.
        terms = (self.design @ theta).reshape(3, -1)
        top = terms.max(axis=0)
        weights = np.exp(terms - top)
        total = weights.sum(axis=0)
        residuals = top + np.log(total) - log_loss
        clipped = np.clip(residuals, -delta, delta)
        value = float((clipped * (residuals - 0.5 * clipped)).sum())
        return value, self.design.T @ (weights * (clipped / total)).ravel()

    def _terms(self, theta: Array) -> Array:
        e, a, b, alpha, beta = (t[..., None] for t in theta)
        return np.stack(np.broadcast_arrays(e, a - alpha * self.log_params, b - beta * self.log_tokens))

    def log_loss(self, thetas: Array) -> Array:
        terms = self._terms(thetas.T)
        top = terms.max(axis=0)
        return top + np.log(np.exp(terms - top).sum(axis=0))

    def log_loss_jac(self, theta: Array) -> tuple[Array, Array]:
        terms = self._terms(theta)
        top = terms.max(axis=0)
        weights = np.exp(terms - top)
        total = weights.sum(axis=0)
        weights /= total  # softmax: d LSE / d term
        jac = np.stack([weights[0], weights[1], weights[2],
                        -weights[1] * self.log_params, -weights[2] * self.log_tokens], axis=1)
        return top + np.log(total), jac

    def profile_starts(self, log_loss: Array, alphas: Array, betas: Array) -> Array:
        """Variable projection: for each (alpha, beta), the best linear (E, A, B) >= 0.

        With the exponents fixed, L = E + A N^-alpha + B D^-beta is linear in (E, A, B);
        weighted least squares on L with weights 1/L (the relative error, i.e. the log residual
        to first order) gives them in one batched 3x3 solve. Returns theta rows (G, 5).
        """
        loss = np.exp(log_loss)
        weight = loss**-2.0  # (L_hat - L) / L squared: weights 1/L^2 on the linear residual
        x_params = np.exp(-alphas[:, None] * self.log_params)  # (G, n)
        x_tokens = np.exp(-betas[:, None] * self.log_tokens)
        wx_params, wx_tokens = x_params * weight, x_tokens * weight
        gram = np.empty((alphas.size, 3, 3))
        gram[:, 0, 0] = weight.sum()
        gram[:, 0, 1] = gram[:, 1, 0] = wx_params.sum(axis=1)
        gram[:, 0, 2] = gram[:, 2, 0] = wx_tokens.sum(axis=1)
        gram[:, 1, 1] = (wx_params * x_params).sum(axis=1)
        gram[:, 1, 2] = gram[:, 2, 1] = (wx_params * x_tokens).sum(axis=1)
        gram[:, 2, 2] = (wx_tokens * x_tokens).sum(axis=1)
        gram += 1e-12 * gram[:, 0, 0, None, None] * np.eye(3)
        rhs = np.column_stack([np.full(alphas.size, (weight * loss).sum()), (wx_params * loss).sum(axis=1),
                               (wx_tokens * loss).sum(axis=1)])
        with np.errstate(all="ignore"):
            scales = np.linalg.solve(gram, rhs[..., None])[..., 0]
        # A non-positive scale means that term is not needed: start it negligible, not at -inf.
        floor = 1e-6 * loss.min() * np.stack([np.ones_like(alphas), np.exp(alphas * self.log_params.max()),
                                             np.exp(betas * self.log_tokens.max())], axis=1)
        scales = np.where(np.isfinite(scales) & (scales > floor), scales, floor)
        return np.column_stack([np.log(scales), alphas, betas])


class KaplanJointModel(LawModel):
    """Kaplan et al. 2020, Eq. 1.5 through its `predict`, plus variable-projection starts.

    With the exponents fixed, L^(1/alpha_D) = N_c^p N^-p + D_c D^-1 (p = alpha_N / alpha_D) is
    linear in (N_c^p, D_c): each exponent pair has a best pair of scales in one 2x2 solve, as
    Chinchilla's form has (E, A, B). Grid starts alone can all sit where one term vanishes.
    """

    def __init__(self, law: Law, inputs: Mapping[str, Array]):
        super().__init__(law, inputs)
        self.log_params = np.log(self.inputs["params"])
        self.log_tokens = np.log(self.inputs["tokens"])

    def profile_starts(self, log_loss: Array, alphas_N: Array, alphas_D: Array) -> Array:
        """Theta rows (G, 4) = (log N_c, log D_c, alpha_N, alpha_D), best linear scales per pair.

        Weighted least squares on y = L^(1/alpha_D) with weights 1/y^2 (relative error in y is
        the log residual over alpha_D, to first order)."""
        p = alphas_N / alphas_D
        with np.errstate(all="ignore"):
            target = np.exp(log_loss[None, :] / alphas_D[:, None])  # (G, n)
            weight = target**-2.0
            x_params = np.exp(-p[:, None] * self.log_params)
            x_tokens = np.exp(-self.log_tokens)[None, :]
            g11 = (weight * x_params**2).sum(axis=1)
            g12 = (weight * x_params * x_tokens).sum(axis=1)
            g22 = (weight * x_tokens**2).sum(axis=1)
            r1 = (weight * x_params * target).sum(axis=1)
            r2 = (weight * x_tokens * target).sum(axis=1)
            det = g11 * g22 - g12**2
            u = (g22 * r1 - g12 * r2) / det
            d_c = (g11 * r2 - g12 * r1) / det
            # A non-positive scale: that term is not needed; start it negligible, not at -inf.
            floor_u = 1e-6 * target.min(axis=1) * np.exp(p * self.log_params.max())
            floor_d = 1e-6 * target.min(axis=1) * np.exp(self.log_tokens.max())
            u = np.where(np.isfinite(u) & (u > floor_u), u, floor_u)
            d_c = np.where(np.isfinite(d_c) & (d_c > floor_d), d_c, floor_d)
            return np.column_stack([np.log(u) / p, np.log(d_c), alphas_N, alphas_D])


class MultiPowerModel(LawModel):
    """Luo et al. 2025, Eq. 1 (the multi-power law over grouped LR drops, scaling.laws.multipower)
    with a hand-written gradient and variable-projection starts.

        L = L0 + A s^-alpha - B sum_j d_j G_j,  G_j = 1 - (u_j + 1)^-beta,  u_j = C eta_j^-gamma S_j
    theta = (log L0, log A, alpha, log B, log C, beta, gamma) in `param_names` order, and
        dL/dlog C = -B sum_j d_j beta (u_j + 1)^(-beta-1) u_j,   dL/dgamma = -log(eta_j) x the same,
        dL/dbeta = -B sum_j d_j (u_j + 1)^-beta log(1 + u_j);    d log L = dL / L.
    Screening evaluates one start at a time: it holds no (starts, rows, groups) array.
    """

    whiten_floor = 1e-4
    """A start whose C x is small (G linear in it) leaves B, C and beta almost one direction;
    whitened at the default floor, a first step there jumps B and C by e^20 and the line search
    never returns."""
    LOSS_FLOOR = 1e-6
    """nats/token: below it a predicted loss is non-physical (see `log_loss_jac`)."""
    PROFILE_GRID = {"C": np.arange(-6.0, 6.1, 1.5), "beta": np.array([0.25, 0.5, 1.0, 2.0]),
                    "gamma": np.array([0.0, 0.3, 0.6, 0.9])}
    """(log C, beta, gamma) points of the variable-projection starts; alpha runs over `exponents`."""

    def __init__(self, law: Law, inputs: Mapping[str, Array]):
        super().__init__(law, inputs)
        held = np.any(self.inputs["drop"] != 0, axis=0)  # groups no row uses cost nothing
        self.drop = self.inputs["drop"][:, held]
        self.log_lr = np.log(self.inputs["drop_lr"][:, held])
        self.log_since = np.log(self.inputs["drop_area"][:, held])
        self.log_area = np.log(self.inputs["lr_area"])

    def _reduction(self, log_c: float, beta: float, gamma: float) -> tuple[Array, Array, Array, Array]:
        """sum_j d_j G_j and the sums d_j dG/dlog C, d_j dG/dgamma, d_j dG/dbeta, each (n,)."""
        with np.errstate(over="ignore"):
            u = np.exp(log_c - gamma * self.log_lr + self.log_since)
        grow = np.log1p(u)
        left = np.exp(-beta * grow)  # (u + 1)^-beta
        slope = self.drop * (beta * left * (u / (1.0 + u)))  # d_j dG/dlog C
        return ((self.drop * -np.expm1(-beta * grow)).sum(axis=1), slope.sum(axis=1),
                -(slope * self.log_lr).sum(axis=1), (self.drop * left * grow).sum(axis=1))

    def log_loss(self, thetas: Array) -> Array:
        out = np.empty((len(thetas), self.log_area.size))
        with np.errstate(all="ignore"):  # overflowing starts score inf and are never polished
            for i, theta in enumerate(thetas):
                l0, a, alpha, b, c, beta, gamma = theta
                loss = np.exp(l0) + np.exp(a - alpha * self.log_area) - np.exp(b) * self._reduction(c, beta, gamma)[0]
                out[i] = np.where(loss > 0, np.log(np.abs(loss)), np.inf)
        return out

    def huber_value_grad(self, theta: Array, log_loss: Array, delta: float) -> tuple[float, Array]:
        # A step that makes some predicted loss non-positive (B too large) or overflows scores +inf,
        # so that L-BFGS-B's line search backs off; NaN would end the search where it stands.
        with np.errstate(invalid="ignore"):
            value, grad = super().huber_value_grad(theta, log_loss, delta)
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros_like(theta)
        return value, grad

    def log_loss_jac(self, theta: Array) -> tuple[Array, Array]:
        l0, a, alpha, b, c, beta, gamma = theta
        with np.errstate(all="ignore"):
            reduction, by_c, by_gamma, by_beta = self._reduction(c, beta, gamma)
            power = np.exp(a - alpha * self.log_area)
            scale = np.exp(b)
            loss = np.exp(l0) + power - scale * reduction
            jac = np.stack([np.full_like(loss, np.exp(l0)), power, -power * self.log_area, -scale * reduction,
                            -scale * by_c, -scale * by_beta, -scale * by_gamma], axis=1)
            # Below LOSS_FLOOR (a step with B too large), log L continues as its tangent there: finite
            # and steep, so the line search backs off instead of meeting a NaN.
            kept = np.maximum(loss, self.LOSS_FLOOR)
            log_loss = np.log(kept) + (loss - kept) / self.LOSS_FLOOR
            return log_loss, jac / kept[:, None]

    def profile_starts(self, log_loss: Array, alphas: Array, keep: int = 24) -> Array:
        """Variable projection: for each alpha and (log C, beta, gamma) of `PROFILE_GRID`, the best
        linear (L0, A, B) > 0 by weighted least squares on L (weights 1/L^2: relative errors, the
        log residual to first order). Returns the `keep` best theta rows (keep, 7)."""
        loss = np.exp(log_loss)
        weight = loss**-2.0
        grid = np.array(np.meshgrid(*self.PROFILE_GRID.values(), indexing="ij")).reshape(3, -1).T
        with np.errstate(all="ignore"):
            powers = np.exp(-alphas[:, None] * self.log_area)  # (nA, n)
            reductions = np.array([-self._reduction(c, beta, gamma)[0] for c, beta, gamma in grid])  # (nG, n)
        features = [np.ones((1, loss.size)), powers, reductions]
        pairs = [(i, j) for i in range(3) for j in range(3)]
        index_a, index_g = (x.ravel() for x in np.meshgrid(np.arange(alphas.size), np.arange(len(grid)), indexing="ij"))

        def cross(i: int, j: int) -> Array:  # sum w f_i f_j for every (alpha, grid) pair
            left, right = features[i] * weight, features[j]
            table = left @ right.T  # (rows of i, rows of j)
            rows = {0: np.zeros_like(index_a), 1: index_a, 2: index_g}
            return table[rows[i], rows[j]]

        gram = np.empty((index_a.size, 3, 3))
        for i, j in pairs:
            gram[:, i, j] = cross(i, j)
        rhs = np.stack([((features[i] * weight) @ loss)[{0: np.zeros_like(index_a), 1: index_a, 2: index_g}[i]]
                        for i in range(3)], axis=1)
        gram += 1e-12 * gram[:, 0, 0, None, None] * np.eye(3)
        with np.errstate(all="ignore"):
            scales = np.linalg.solve(gram, rhs[..., None])[..., 0]
        # A non-positive scale means that term is not needed: start it negligible, not at -inf.
        floor = 1e-6 * loss.min()
        scales = np.where(np.isfinite(scales) & (scales > floor), scales, floor)
        # Weighted residual sum of squares of each start (a quadratic in its scales): only the best
        # `keep` go on, since each costs the engine a rows x groups evaluation to rank again.
        rss = (weight * loss**2).sum() - 2 * (scales * rhs).sum(axis=1) + np.einsum("gi,gij,gj->g", scales, gram, scales)
        best = np.argsort(np.where(np.isfinite(rss), rss, np.inf))[:keep]
        return np.column_stack([np.log(scales[:, 0]), np.log(scales[:, 1]), alphas[index_a], np.log(scales[:, 2]),
                                grid[index_g, 0], grid[index_g, 1], grid[index_g, 2]])[best]


def make_model(law: Law, inputs: Mapping[str, Array]) -> LawModel:
    """The model the engine optimises for `law`: the LSE form for Chinchilla, the projected
    starts for Kaplan's joint form, the hand-written gradient of the multi-power law, else generic."""
    if law.name == "chinchilla":
        return ChinchillaLseModel(law, inputs)
    if law.name == "kaplan_nd":
        return KaplanJointModel(law, inputs)
    if law.name == "multi_power_curve":
        return MultiPowerModel(law, inputs)
    return LawModel(law, inputs)
