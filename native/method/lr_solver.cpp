#include "method/lr_solver.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "core/errors.h"

namespace grnewt::lr_solver {

namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // row-major, small

constexpr double kEps = std::numeric_limits<double>::epsilon();

Vec to_vec(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU, at::kDouble).contiguous();
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

at::Tensor to_tensor(const Mat& m) {
  const int64_t n = static_cast<int64_t>(m.size());
  at::Tensor t = at::empty({n, n}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[i][j] = m[i][j];
  return t;
}

double norm(const Vec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

Mat submatrix(const Mat& m, const std::vector<int>& rows, const std::vector<int>& cols) {
  Mat out(rows.size(), Vec(cols.size()));
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < cols.size(); ++j) out[i][j] = m[rows[i]][cols[j]];
  return out;
}

Vec subvector(const Vec& v, const std::vector<int>& idx) {
  Vec out(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) out[i] = v[idx[i]];
  return out;
}

// Symmetric eigendecomposition: ascending eigenvalues, eigenvectors as the columns of Q.
struct Eigen {
  Vec values;
  Mat Q;
};
Eigen eigh(const Mat& m) {
  auto [values, vectors] = at::linalg_eigh(to_tensor(m));
  Eigen e{to_vec(values), Mat(m.size(), Vec(m.size()))};
  auto q = vectors.accessor<double, 2>();
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m.size(); ++j) e.Q[i][j] = q[i][j];
  return e;
}

// X = A⁻¹ B (A symmetric positive definite), B given as columns.
Mat solve_columns(const Mat& A, const Mat& B_columns) {
  if (B_columns.empty()) return {};
  const int64_t n = static_cast<int64_t>(A.size()), k = static_cast<int64_t>(B_columns.size());
  at::Tensor b = at::empty({n, k}, at::kDouble);
  auto ba = b.accessor<double, 2>();
  for (int64_t j = 0; j < k; ++j)
    for (int64_t i = 0; i < n; ++i) ba[i][j] = B_columns[j][i];
  at::Tensor x = at::linalg_solve(to_tensor(A), b);
  auto xa = x.accessor<double, 2>();
  Mat out(k, Vec(n));
  for (int64_t j = 0; j < k; ++j)
    for (int64_t i = 0; i < n; ++i) out[j][i] = xa[i][j];
  return out;
}

// x = A⁻¹ b by LU with one step of iterative refinement (backward stable; the refinement recovers the digits a
// badly scaled A loses in the first solve).
Vec solve_refined(const Mat& A, const Vec& b) {
  const size_t n = b.size();
  const at::Tensor At = to_tensor(A);
  at::Tensor bt = at::tensor(b, at::kDouble).reshape({static_cast<int64_t>(n), 1});
  auto [LU, pivots] = at::linalg_lu_factor(At);
  at::Tensor x = at::linalg_lu_solve(LU, pivots, bt);
  const at::Tensor r = bt - at::matmul(At, x);
  x = x + at::linalg_lu_solve(LU, pivots, r);
  return to_vec(x);
}

double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Brent's method on [a, b] with f(a) > 0 > f(b) (Brent 1973, as in Numerical Recipes' zbrent).
double brent(const std::function<double(double)>& f, double a, double b, double fa, double fb, int* iterations) {
  double c = b, fc = fb, d = b - a, e = d;
  for (int it = 1; it <= 300; ++it) {
    *iterations = it;
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a, fc = fa, e = d = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b, b = c, c = a;
      fa = fb, fb = fc, fc = fa;
    }
    const double tol = 2 * kEps * std::fabs(b) + std::numeric_limits<double>::min();
    const double xm = 0.5 * (c - b);
    if (std::fabs(xm) <= tol || fb == 0) return b;
    if (std::fabs(e) >= tol && std::fabs(fa) > std::fabs(fb)) {
      double s = fb / fa, p, q;
      if (a == c) {
        p = 2 * xm * s, q = 1 - s;
      } else {
        double qq = fa / fc, r = fb / fc;
        p = s * (2 * xm * qq * (qq - r) - (b - a) * (r - 1));
        q = (qq - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q;
      p = std::fabs(p);
      if (2 * p < std::min(3 * xm * q - std::fabs(tol * q), std::fabs(e * q))) {
        e = d, d = p / q;
      } else {
        d = xm, e = d;
      }
    } else {
      d = xm, e = d;
    }
    a = b, fa = fb;
    b += std::fabs(d) > tol ? d : (xm > 0 ? tol : -tol);
    fb = f(b);
  }
  return b;
}

void check_finite(const Vec& v, const char* name) {
  for (double x : v)
    if (!std::isfinite(x)) throw RangeError(std::string("nesterovLrs: ") + name + " holds a NaN or infinite value");
}

// The subsets along which something moves: all but those whose row and column of H̄, ḡ and (for the Nesterov
// step) d are exactly zero — a parameter the loss does not use, or a zero direction. Any η_s gives such a subset
// the same step, and with it in the problem H̄ is singular there, so no subset would get a learning rate.
std::vector<int64_t> moving_subsets(const Vec& h, const Vec& g, const Vec* d, int64_t S) {
  std::vector<int64_t> moving;
  for (int64_t s = 0; s < S; ++s) {
    bool still = g[s] == 0 && (d == nullptr || (*d)[s] == 0);
    for (int64_t j = 0; still && j < S; ++j) still = h[s * S + j] == 0 && h[j * S + s] == 0;
    if (!still) moving.push_back(s);
  }
  return moving;
}

// `solve_moving` on the moving subsets' problem; their η spread back over all S subsets, 0 for the others.
template <typename F>
Result on_moving(const std::vector<int64_t>& moving, int64_t S, const at::Tensor& H, const at::Tensor& g,
                 const at::Tensor& d, const F& solve_moving) {
  if (moving.empty()) {
    Result none;
    none.reason = "nothing moves: H̄, ḡ and D are zero on every subset";
    return none;
  }
  const at::Tensor index = at::tensor(moving, at::kLong);
  const auto pick = [&](const at::Tensor& t) { return t.to(at::kDouble).index_select(0, index); };
  Result r = solve_moving(pick(H).index_select(1, index), pick(g), d.defined() ? pick(d) : at::Tensor());
  if (r.found) {
    Vec all(static_cast<size_t>(S), 0.0);
    for (size_t k = 0; k < moving.size(); ++k) all[moving[k]] = r.lrs[k];
    r.lrs = all;
  }
  return r;
}

}  // namespace

Result solve(const at::Tensor& H_in, const at::Tensor& g_in, const at::Tensor& d_in, double damping_int) {
  const int64_t S = g_in.numel();
  if (g_in.dim() != 1) throw RangeError("nesterovLrs: g must be a vector [S]");
  if (S < 1) throw RangeError("nesterovLrs: there must be at least one subset (S = 0)");
  if (H_in.dim() != 2 || H_in.size(0) != S || H_in.size(1) != S)
    throw RangeError("nesterovLrs: H must be [S,S] with S = " + std::to_string(S) + " (the length of g)");
  if (d_in.dim() != 1 || d_in.numel() != S) throw RangeError("nesterovLrs: order3_ must be a vector [S] like g");
  if (!std::isfinite(damping_int) || damping_int < 0)
    throw RangeError("nesterovLrs: dampingInt must be a finite number ≥ 0, got " + number_text(damping_int));

  const Vec h_flat = to_vec(H_in), g = to_vec(g_in), d = to_vec(d_in);
  check_finite(h_flat, "H");
  check_finite(g, "g");
  check_finite(d, "order3_");
  for (double x : d)
    if (x < 0) throw RangeError("nesterovLrs: order3_ (D's diagonal) must be ≥ 0, got " + number_text(x));
  const std::vector<int64_t> moving = moving_subsets(h_flat, g, &d, S);
  if (static_cast<int64_t>(moving.size()) < S)
    return on_moving(moving, S, H_in, g_in, d_in, [&](const at::Tensor& h, const at::Tensor& gs, const at::Tensor& ds) {
      return solve(h, gs, ds, damping_int);
    });
  Mat H(S, Vec(S));
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) H[i][j] = 0.5 * (h_flat[i * S + j] + h_flat[j * S + i]);
  const double c = 0.5 * damping_int;

  Result out;
  const double h_norm = [&] {
    double acc = 0;
    for (auto& row : H)
      for (double x : row) acc += x * x;
    return std::sqrt(acc);
  }();
  // The solution's two equations, as the caller can check them: ‖(H̄ + ½λrD²)η − ḡ‖ / max(‖ḡ‖, ‖H̄‖‖η‖) and
  // |‖Dη‖ − r| / max(r, 1).
  auto accuracy = [&](const Vec& eta, double r) {
    double res = 0;
    Vec de(S);
    for (int64_t i = 0; i < S; ++i) {
      double acc = c * r * d[i] * d[i] * eta[i] - g[i];
      for (int64_t j = 0; j < S; ++j) acc += H[i][j] * eta[j];
      res += acc * acc;
      de[i] = d[i] * eta[i];
    }
    const double scale = std::max(norm(g), h_norm * norm(eta));
    return std::pair<double, double>{scale > 0 ? std::sqrt(res) / scale : 0,
                                     std::fabs(norm(de) - r) / std::max(r, 1.0)};
  };
  auto finish = [&](const Vec& eta, double r) {
    const auto [residual, gap] = accuracy(eta, r);
    out.residual = residual;
    out.gap = gap;
    if (!(residual <= kResidualBound && gap <= kGapBound)) {
      // Refuse a point that is not a solution: float64 could not resolve this problem to the bounds.
      out.found = false;
      out.reason = "float64 cannot solve this problem to the required accuracy (residual " + number_text(residual) +
                   ", |‖Dη‖ − r| / max(r, 1) = " + number_text(gap) +
                   "): H̄ + ½λrD² is too ill-conditioned at the solution";
      return out;
    }
    out.found = true;
    out.lrs = eta;
    out.r = r;
    return out;
  };
  auto fail = [&](std::string reason) {
    out.found = false;
    out.reason = std::move(reason);
    return out;
  };

  // λ = 0: plain Newton on the summary, which needs H̄ ≻ 0.
  if (c == 0) {
    Eigen e = eigh(H);
    const double scale = std::max(max_abs(e.values), std::numeric_limits<double>::min());
    if (e.values[0] <= 16 * kEps * S * scale) {
      throw RangeError("nesterovLrs: dampingInt = 0 with an H̄ that is not positive definite (smallest eigenvalue " +
                       number_text(e.values[0]) + ") has no solution; use dampingInt > 0");
    }
    out.branch = "newton";
    Vec eta = solve_columns(H, {g})[0];
    Vec de(S);
    for (int64_t i = 0; i < S; ++i) de[i] = d[i] * eta[i];
    return finish(eta, norm(de));
  }

  // Split the subsets where D ≈ 0 (N) from the others (P).
  const double d_max = *std::max_element(d.begin(), d.end());
  std::vector<int> N, P;
  auto split = [&](double threshold) {
    N.clear(), P.clear();
    for (int i = 0; i < S; ++i) (d[i] <= threshold ? N : P).push_back(i);
  };
  split(kNullRatio * d_max);
  if (P.empty()) {
    return fail("D = 0 (no third-order information in any subset): the cubic regularisation vanishes and f(0) = 0");
  }

  // Eliminate N: H_NN η_N + H_NP η_P = g_N needs H_NN ≻ 0, since no r regularises those subsets.
  auto nn_positive_definite = [&](double* smallest) {
    if (N.empty()) return true;
    Eigen e = eigh(submatrix(H, N, N));
    *smallest = e.values[0];
    return e.values[0] > 16 * kEps * S * std::max(max_abs(e.values), max_abs(h_flat));
  };
  double smallest = 0;
  if (!nn_positive_definite(&smallest)) {
    // Tiny but non-zero d_s still regularise their subsets at a large enough r: then the solution exists, so
    // eliminate only the exact zeros (the final check says if float64 could not resolve it).
    split(0.0);
    if (!nn_positive_definite(&smallest)) {
      return fail("H̄ is not positive definite on the subsets where D = 0 (smallest eigenvalue " +
                  number_text(smallest) + "): no r makes H̄ + ½λrD² positive definite");
    }
  }
  out.d_singular = !N.empty();
  Mat Sm = submatrix(H, P, P);
  Vec gt = subvector(g, P);
  Mat K_HNP;  // columns: H_NN⁻¹ H_N,p for each p in P
  Vec K_gN;   // H_NN⁻¹ g_N
  const Mat H_NN = submatrix(H, N, N);
  if (!N.empty()) {
    Mat cols;
    for (int p : P) cols.push_back(subvector(H[p], N));
    cols.push_back(subvector(g, N));
    Mat X = solve_columns(H_NN, cols);
    K_gN = X.back();
    X.pop_back();
    K_HNP = X;
    for (size_t a = 0; a < P.size(); ++a) {
      for (size_t b = 0; b < P.size(); ++b) {
        double acc = 0;
        for (size_t k = 0; k < N.size(); ++k) acc += H[P[a]][N[k]] * K_HNP[b][k];
        Sm[a][b] -= acc;
      }
      double acc = 0;
      for (size_t k = 0; k < N.size(); ++k) acc += H[P[a]][N[k]] * K_gN[k];
      gt[a] -= acc;
    }
  }

  // Scale by D_P⁻¹ and diagonalise: ξ = D_P η_P, (M̃ + c r I) ξ = b̃.
  const size_t m = P.size();
  Mat Mt(m, Vec(m));
  Vec bt(m), dP = subvector(d, P);
  for (size_t a = 0; a < m; ++a) {
    bt[a] = gt[a] / dP[a];
    for (size_t b = 0; b < m; ++b) Mt[a][b] = 0.5 * (Sm[a][b] + Sm[b][a]) / (dP[a] * dP[b]);
  }
  Eigen e = eigh(Mt);
  const Vec& mu = e.values;
  Vec beta(m, 0.0);
  for (size_t i = 0; i < m; ++i)
    for (size_t a = 0; a < m; ++a) beta[i] += e.Q[a][i] * bt[a];

  const double mu_scale = std::max(max_abs(mu), std::numeric_limits<double>::min());
  const bool pd = mu[0] > 16 * kEps * m * mu_scale;
  out.r0 = pd ? 0.0 : -mu[0] / c;
  // Work in δ = r − r0: the denominators μᵢ + c·r = baseᵢ + c·δ with baseᵢ = μᵢ − μ_min (exactly 0 for the
  // smallest) when H̄ is not positive definite. Near r0 this keeps ξ's critical components accurate, where
  // μᵢ + c·r would cancel to round-off.
  Vec base(m);
  std::vector<bool> critical(m, false);  // eigenvalues that meet μ_min (numerically): singular at r0
  for (size_t i = 0; i < m; ++i) {
    base[i] = pd ? mu[i] : mu[i] - mu[0];
    critical[i] = !pd && base[i] <= 16 * kEps * m * mu_scale;
  }
  auto xi_at = [&](double delta) {
    Vec xi(m);
    for (size_t i = 0; i < m; ++i) xi[i] = beta[i] / (base[i] + c * delta);
    return xi;
  };
  auto phi = [&](double delta) { return norm(xi_at(delta)) - (out.r0 + delta); };

  // Lift ξ (in the eigenbasis) back to η over all subsets.
  auto lift = [&](const Vec& xi_eig) {
    Vec etaP(m, 0.0), eta(S, 0.0);
    for (size_t a = 0; a < m; ++a) {
      double acc = 0;
      for (size_t i = 0; i < m; ++i) acc += e.Q[a][i] * xi_eig[i];
      etaP[a] = acc / dP[a];
      eta[P[a]] = etaP[a];
    }
    for (size_t k = 0; k < N.size(); ++k) {
      double acc = K_gN[k];
      for (size_t a = 0; a < m; ++a) acc -= K_HNP[a][k] * etaP[a];
      eta[N[k]] = acc;
    }
    return eta;
  };

  // The natural scale of r: without H̄, ‖ξ‖ = ‖β‖/(c r) = r.
  const double r_scale = std::max({out.r0, std::sqrt(norm(beta) / c), std::numeric_limits<double>::min()});
  const double lo = pd ? 0.0 : 1e-14 * r_scale;  // just above r0, where the matrix is positive definite
  const double phi_lo = phi(lo);
  if (!(phi_lo > 0)) {
    if (pd) return fail("ḡ vanishes where it matters (f(0) = ‖D H̄⁻¹ ḡ‖ = 0): no step to take");
    // Hard case: ḡ has (numerically) no component on the critical eigenvectors, so ‖ξ‖ stays below r
    // just above r0. The solution sits at r = r0: the rest of ξ plus a critical component τ·q making
    // ‖ξ‖ = r0 (sign chosen along ḡ's own component, so the step descends).
    out.branch = "hard-case";
    Vec xi(m, 0.0);
    double critical_beta = 0;
    size_t k = 0;
    for (size_t i = 0; i < m; ++i) {
      if (critical[i]) {
        if (std::fabs(beta[i]) >= std::fabs(critical_beta)) critical_beta = beta[i], k = i;
      } else {
        xi[i] = beta[i] / base[i];
      }
    }
    const double rest = norm(xi);
    const double tau = std::sqrt(std::max(0.0, out.r0 * out.r0 - rest * rest));
    xi[k] = critical_beta < 0 ? -tau : tau;
    out.bracket_lo = out.bracket_hi = out.r0;
    return finish(lift(xi), out.r0);
  }
  out.branch = pd ? "positive-definite" : "indefinite";

  // Bracket: grow hi geometrically until φ(hi) < 0 (φ decreases on (r0, ∞)).
  double hi = r_scale, phi_hi = phi(hi);
  for (int grow = 0; phi_hi >= 0; ++grow) {
    if (grow > 2100 || !std::isfinite(hi)) return fail("could not bracket the root of f (f stayed ≥ 0)");
    hi *= 2;
    phi_hi = phi(hi);
  }
  out.bracket_lo = out.r0 + lo;
  out.bracket_hi = out.r0 + hi;
  const double delta = brent(phi, lo, hi, phi_lo, phi_hi, &out.iterations);
  const Vec eta_eig = lift(xi_at(delta));
  const double r_eig = out.r0 + delta;
  // The scaled eigenbasis loses digits when D spans many orders of magnitude (D_P⁻¹ M D_P⁻¹ is then badly
  // scaled): polish (r, η) in the original coordinates — Newton on φ(r) = ‖Dη(r)‖ − r, η(r) = (H̄ + ½λrD²)⁻¹ḡ
  // solved directly, kept inside the bracket — and keep whichever point satisfies the equations better.
  double r = r_eig, b_lo = out.r0 + lo, b_hi = out.r0 + hi;
  auto A_at = [&](double rr) {
    Mat A = H;
    for (int64_t i = 0; i < S; ++i) A[i][i] += c * rr * d[i] * d[i];
    return A;
  };
  Vec eta = eta_eig;
  for (int it = 0; it < 40; ++it) {
    const Mat A = A_at(r);
    eta = solve_refined(A, g);
    Vec de(S), d2eta(S);
    for (int64_t i = 0; i < S; ++i) de[i] = d[i] * eta[i], d2eta[i] = c * d[i] * d[i] * eta[i];
    const double n = norm(de), phi_r = n - r;
    if (std::fabs(phi_r) <= 0.1 * kGapBound * std::max(r, 1.0) || !std::isfinite(phi_r)) break;
    (phi_r > 0 ? b_lo : b_hi) = r;
    const Vec deta = solve_refined(A, d2eta);  // −η'(r)
    double dot = 0;
    for (int64_t i = 0; i < S; ++i) dot += de[i] * d[i] * deta[i];
    const double slope = -dot / std::max(n, std::numeric_limits<double>::min()) - 1;
    double next = r - phi_r / slope;
    if (!(next > b_lo && next < b_hi)) next = 0.5 * (b_lo + b_hi);
    if (next == r) break;
    r = next;
  }
  eta = solve_refined(A_at(r), g);
  const auto eig_quality = accuracy(eta_eig, r_eig), polished_quality = accuracy(eta, r);
  const double eig_worst = std::max(eig_quality.first / kResidualBound, eig_quality.second / kGapBound);
  const double polished_worst = std::max(polished_quality.first / kResidualBound, polished_quality.second / kGapBound);
  if (!(polished_worst < eig_worst)) return finish(eta_eig, r_eig);
  return finish(eta, r);
}

Result ridge(const at::Tensor& H_in, const at::Tensor& g_in, double ridge) {
  const int64_t S = g_in.numel();
  if (g_in.dim() != 1) throw RangeError("ridge: g must be a vector [S]");
  if (S < 1) throw RangeError("ridge: there must be at least one subset (S = 0)");
  if (H_in.dim() != 2 || H_in.size(0) != S || H_in.size(1) != S) throw RangeError("ridge: H must be [S,S]");
  if (!std::isfinite(ridge) || ridge < 0)
    throw RangeError("ridge must be a finite number ≥ 0, got " + number_text(ridge));
  const Vec h = to_vec(H_in), g = to_vec(g_in);
  check_finite(h, "H");
  check_finite(g, "g");
  const std::vector<int64_t> moving = moving_subsets(h, g, nullptr, S);
  if (static_cast<int64_t>(moving.size()) < S)
    return on_moving(
        moving, S, H_in, g_in, at::Tensor(),
        [&](const at::Tensor& hs, const at::Tensor& gs, const at::Tensor&) { return lr_solver::ridge(hs, gs, ridge); });
  Mat M(S, Vec(S));
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) M[i][j] = 0.5 * (h[i * S + j] + h[j * S + i]) + (i == j ? ridge : 0.0);
  Result out;
  out.branch = "ridge";
  Eigen e = eigh(M);
  const double scale = std::max(max_abs(e.values), std::numeric_limits<double>::min());
  if (std::fabs(e.values[0]) <= 16 * kEps * S * scale && std::fabs(e.values.back()) <= 16 * kEps * S * scale) {
    out.reason = "H̄ + ridge·I is zero";
    return out;
  }
  for (double v : e.values) {
    if (std::fabs(v) <= 16 * kEps * S * scale) {
      out.reason = "H̄ + ridge·I is singular (eigenvalue " + number_text(v) + ")";
      return out;
    }
  }
  Vec eta = solve_columns(M, {g})[0];
  double res = 0;
  for (int64_t i = 0; i < S; ++i) {
    double acc = -g[i];
    for (int64_t j = 0; j < S; ++j) acc += M[i][j] * eta[j];
    res += acc * acc;
  }
  out.found = true;
  out.lrs = eta;
  out.residual = std::sqrt(res) / (scale * norm(eta) + norm(g));
  return out;
}

}  // namespace grnewt::lr_solver
