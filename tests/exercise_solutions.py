"""Hand-written solutions of the built-in exercises, and bugs to plant in them.

Written for the tests only, in plain NumPy from the formulas (independently of npae's
vectorized references): a solution file is the stub as ``npae exercises make`` writes
it, with these definitions appended (they replace the stub's ``backward``s). A bug is a
``(old, new, expected diagnosis)`` text substitution in the solution, and the test
checks that the grader's message names the right gradient and the right fault.
"""

from __future__ import annotations

SOLUTIONS = {
    "dense": '''
def _backward(self, dy):
    self.grads["W"] = self.x.T @ dy
    self.grads["b"] = dy.sum(axis=0)
    return dy @ self.params["W"].T


Dense.backward = _backward
''',
    "sigmoid": '''
def _backward(self, dy):
    return dy * self.y * (1 - self.y)


Sigmoid.backward = _backward
''',
    "relu": '''
def _backward(self, dy):
    return dy * (self.x > 0)


ReLU.backward = _backward
''',
    "tanh": '''
def _backward(self, dy):
    return dy * (1 - self.y ** 2)


Tanh.backward = _backward
''',
    "mse": '''
def mse_backward(pred, target):
    return 2 * (pred - target) / pred.size
''',
    "bce_with_logits": '''
def bce_with_logits_backward(z, t):
    p = 0.5 * (1 + np.tanh(z / 2))
    return (p - t) / z.size
''',
    "softmax_cross_entropy": '''
def softmax_cross_entropy_backward(logits, labels):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / len(labels)
''',
    "conv2d": '''
def _backward(self, dy):
    W = self.params["W"]
    (sh, sw), (ph, pw) = self.stride, self.padding
    O, C, kh, kw = W.shape
    N, _, Ho, Wo = dy.shape
    H, Wd = self.x.shape[2:]
    dW = np.zeros_like(W)
    dxp = np.zeros_like(self.xp)
    for a in range(kh):
        for e in range(kw):
            rows, cols = slice(a, a + sh * (Ho - 1) + 1, sh), slice(e, e + sw * (Wo - 1) + 1, sw)
            window = self.xp[:, :, rows, cols]
            dW[:, :, a, e] = np.einsum("nohw,nchw->oc", dy, window)
            dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", dy, W[:, :, a, e])
    self.grads["W"] = dW
    self.grads["b"] = dy.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + H, pw:pw + Wd]


Conv2D.backward = _backward
''',
    "maxpool2d": '''
def _backward(self, dy):
    (kh, kw), (sh, sw) = self.kernel_size, self.stride
    N, C, Ho, Wo = dy.shape
    dx = np.zeros_like(self.x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = self.x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    a, e = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * sh + a, j * sw + e] += dy[n, c, i, j]
    return dx


MaxPool2D.backward = _backward
''',
    "upsample2d": '''
def _backward(self, dy):
    N, C, H, W = self.x_shape
    sh, sw = self.scale_factor
    return dy.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5))


Upsample2D.backward = _backward
''',
    "kl_sparsity": '''
def kl_sparsity_backward(h, rho, beta):
    N = h.shape[0]
    rho_hat = h.mean(axis=0)
    d = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    return np.ones_like(h) * (beta / N) * d
''',
    "contractive": '''
def contractive_backward(x, W, b, lam):
    N = x.shape[0]
    h = 1 / (1 + np.exp(-(x @ W + b)))
    s = h * (1 - h)
    c = (W * W).sum(axis=0)
    g = (2 * lam / N) * s * s * (1 - 2 * h) * c
    dW = (2 * lam / N) * W * (s * s).sum(axis=0) + x.T @ g
    return dW, g.sum(axis=0)
''',
    "gaussian_kl": '''
def gaussian_kl_backward(mu, logvar):
    N = mu.shape[0]
    return mu / N, (np.exp(logvar) - 1) / (2 * N)


def reparameterize_backward(dz, mu, logvar, eps):
    return dz.copy(), dz * 0.5 * np.exp(0.5 * logvar) * eps
''',
}

#: name -> list of (old text, new text, words the diagnosis must contain)
BUGS = {
    "dense": [
        ('self.grads["W"] = self.x.T @ dy', 'self.grads["W"] = dy.T @ self.x',
         ["dW wrong", "transposed", "shape (n_out, n_in), expected (n_in, n_out)",
          "dx and db right"]),
        ('dy.sum(axis=0)', 'dy.sum(axis=1)', ["db wrong", "shape (N,), expected (n_out,)",
                                              "dx and dW right"]),
        ('dy.sum(axis=0)', 'dy.mean(axis=0)', ["db wrong", "factor 1/3 = 1/N",
                                               "batch size", "dx and dW right"]),
    ],
    "sigmoid": [
        ("dy * self.y * (1 - self.y)", "dy * self.y", ["dx wrong", "entries"]),
        ("dy * self.y * (1 - self.y)", "-dy * self.y * (1 - self.y)",
         ["dx wrong", "sign flipped (factor -1)"]),
    ],
    "relu": [
        ("dy * (self.x > 0)", "dy * (self.x >= 0)",
         ["dx wrong", "inputs exactly 0", "fails on 1 of 3 cases"]),
        ("dy * (self.x > 0)", "2 * dy * (self.x > 0)", ["dx wrong", "off by a factor 2"]),
    ],
    "tanh": [
        ("dy * (1 - self.y ** 2)", "dy * (1 - self.y) ** 2", ["dx wrong", "entries"]),
        ("dy * (1 - self.y ** 2)", "(1 - self.y ** 2)", ["dx wrong"]),
    ],
    "mse": [
        ("2 * (pred - target) / pred.size", "2 * (pred - target) / len(pred)",
         ["dpred wrong", "off by a factor"]),
        ("2 * (pred - target) / pred.size", "(pred - target) / pred.size",
         ["dpred wrong", "off by a factor 1/2"]),
    ],
    "bce_with_logits": [
        ("(p - t) / z.size", "(t - p) / z.size", ["dz wrong", "sign flipped"]),
        ("(p - t) / z.size", "(p - t)", ["dz wrong", "off by a factor", "N*D"]),
    ],
    "softmax_cross_entropy": [
        ("return p / len(labels)", "return p", ["dlogits wrong", "= N"]),
        ("e = np.exp(logits - logits.max(axis=1, keepdims=True))", "e = np.exp(logits)",
         ["dlogits wrong", "NaN", "logits near 800", "fails on 1 of 3 cases"]),
    ],
    "conv2d": [
        ('self.grads["W"] = dW', 'self.grads["W"] = dW.transpose(1, 0, 2, 3)',
         ["dW wrong", "axes in the wrong order", "shape (C, O, kh, kw), expected "
          "(O, C, kh, kw)", "dx and db right"]),
        ("dxp[:, :, rows, cols] += ", "dxp[:, :, rows, cols] = ",
         ["dx wrong", "dW and db right", "overlap"]),
        ("dy.sum(axis=(0, 2, 3))", "dy.sum(axis=(2, 3))",
         ["db wrong", "not summed over axis 0 (N)", "dx and dW right"]),
    ],
    "maxpool2d": [
        ("a, e = np.unravel_index(np.argmax(window), window.shape)",
         "a, e = np.unravel_index(np.argmax(window[::-1, ::-1]), window.shape); "
         "a, e = window.shape[0] - 1 - a, window.shape[1] - 1 - e",
         ["dx wrong", "ties", "fails on 1 of 4 cases"]),
        ("dx[n, c, i * sh + a, j * sw + e] += dy", "dx[n, c, i * sh + a, j * sw + e] = dy",
         ["dx wrong", "overlapping"]),
    ],
    "upsample2d": [
        (".sum(axis=(3, 5))", ".mean(axis=(3, 5))",
         ["dx wrong", "off by a factor 1/4 = 1/(sh*sw)"]),
        ("dy.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5))", "dy[:, :, ::sh, ::sw]",
         ["dx wrong"]),
    ],
    "kl_sparsity": [
        ("(beta / N) * d", "beta * d", ["dh wrong", "= N", "batch size"]),
        ("d = -rho / rho_hat + (1 - rho) / (1 - rho_hat)", "d = -rho / rho_hat",
         ["dh wrong", "entries"]),
    ],
    "contractive": [
        ("+ x.T @ g", "", ["dW wrong", "db right"]),
        ("return dW, g.sum(axis=0)", "return dW, g.sum(axis=1)",
         ["db wrong", "shape", "dW right"]),
    ],
    "gaussian_kl": [
        ("(np.exp(logvar) - 1) / (2 * N)", "(np.exp(logvar) - 1) / N",
         ["dlogvar (KL) wrong", "off by a factor 2", "dmu (KL), dmu (z) and dlogvar (z) right"]),
        ("dz * 0.5 * np.exp(0.5 * logvar) * eps", "dz * np.exp(logvar) * eps",
         ["dlogvar (z) wrong", "dmu (KL), dlogvar (KL) and dmu (z) right"]),
    ],
}
