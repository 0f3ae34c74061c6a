#include "core/taylor.h"

#include <ATen/core/grad_mode.h>

#include "core/errors.h"

namespace grnewt::taylor {

namespace {

// f(y) and its first three derivatives, elementwise.
struct Derivatives {
  at::Tensor f, f1, f2, f3;
};

Derivatives activate(Activation a, const at::Tensor& y) {
  switch (a) {
    case Activation::Tanh: {
      at::Tensor z = at::tanh(y), f1 = 1 - z * z, f2 = -2 * z * f1;
      return {z, f1, f2, -2 * f1 * f1 + 4 * z * z * f1};
    }
    case Activation::Sigmoid: {
      at::Tensor s = at::sigmoid(y), f1 = s * (1 - s);
      return {s, f1, f1 * (1 - 2 * s), f1 * (1 - 6 * s + 6 * s * s)};
    }
    case Activation::Relu: {
      at::Tensor pos = (y > 0).to(y.scalar_type());
      return {at::relu(y), pos, at::zeros_like(y), at::zeros_like(y)};
    }
    case Activation::Elu: {
      at::Tensor pos = y > 0, e = at::exp(at::clamp_max(y, 0));
      at::Tensor f1 = at::where(pos, at::ones_like(y), e), f2 = at::where(pos, at::zeros_like(y), e);
      return {at::elu(y), f1, f2, f2};
    }
    case Activation::Identity:
      return {y, at::ones_like(y), at::zeros_like(y), at::zeros_like(y)};
  }
  TORCH_INTERNAL_ASSERT(false, "unknown activation");
}

// Jets of one quantity: value, first derivatives along each subset [S,...], mixed second derivatives for
// each pair i ≤ j [P,...] (diagonal pairs are the second derivatives along one subset), and third
// derivatives along each subset [S,...].
struct Jet {
  at::Tensor v, d1, d2, d3;
};

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "elu") return Activation::Elu;
  if (name == "identity") return Activation::Identity;
  throw TypeError("activation must be tanh, relu, sigmoid, elu or identity, got '" + name + "'");
}

summaries::Hg mlp_hg(const std::vector<Layer>& layers, Activation activation, Loss loss, const at::Tensor& x,
                     const at::Tensor& target, int64_t S, const summaries::Options& options) {
  at::NoGradGuard no_grad;
  if (layers.empty()) throw RangeError("the perceptron has no layer");
  if (S < 1) throw RangeError("the partition has no subset");
  // Pairs (i, j), i ≤ j, in row-major order of the upper triangle; the diagonal pair of s is pair_of[s][s].
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::vector<std::vector<int64_t>> pair_of(S, std::vector<int64_t>(S, -1));
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = i; j < S; ++j)
      if (!options.diagonal || i == j) {
        pair_of[i][j] = pair_of[j][i] = static_cast<int64_t>(pairs.size());
        pairs.emplace_back(i, j);
      }
  const int64_t P = static_cast<int64_t>(pairs.size());
  at::Tensor pi = at::tensor(std::vector<int64_t>([&] { std::vector<int64_t> v; for (auto& p : pairs) v.push_back(p.first); return v; }()));
  at::Tensor pj = at::tensor(std::vector<int64_t>([&] { std::vector<int64_t> v; for (auto& p : pairs) v.push_back(p.second); return v; }()));

  at::Tensor h = x.reshape({x.size(0), -1});
  const auto opts = h.options();
  std::vector<int64_t> diag_pairs;
  for (int64_t s = 0; s < S; ++s) diag_pairs.push_back(pair_of[s][s]);
  const at::Tensor diag_index = at::tensor(diag_pairs);
  // The input does not depend on the parameters: every jet starts at the first layer, so the first layer
  // (usually the widest) costs one U·x product per subset and no product of zero jets.
  Jet z{h, at::Tensor(), at::Tensor(), at::Tensor()};
  bool jets_zero = true;
  // A subset's jets are zero until the first layer it owns a tensor of; a pair's mixed jets until both
  // subsets are past theirs. Only those that can be non-zero go through the matmuls.
  std::vector<bool> active(S, false);
  auto rows = [](const std::vector<int64_t>& idx) { return at::tensor(idx, at::kLong); };
  for (size_t k = 0; k < layers.size(); ++k) {
    const Layer& L = layers[k];
    if (L.input_scale != 1) {
      z.v = z.v * L.input_scale;
      if (!jets_zero) z = {z.v, z.d1 * L.input_scale, z.d2 * L.input_scale, z.d3 * L.input_scale};
    }
    const int64_t N = z.v.size(0), out = L.weight.size(0);
    const at::Tensor Wt = L.weight.t();
    at::Tensor Ux = at::zeros({S, N, out}, opts);  // U_s·x for the subset owning the weight, zero for the others
    Jet y;
    y.v = at::matmul(z.v, Wt) + L.bias;
    if (jets_zero) {
      if (L.weight_group >= 0) Ux[L.weight_group] = at::matmul(z.v, L.dweight.t());
      y.d1 = Ux;
      y.d2 = at::zeros({P, N, out}, opts);
      y.d3 = at::zeros({S, N, out}, opts);
      jets_zero = false;
    } else {
      std::vector<int64_t> A, AP;
      for (int64_t s = 0; s < S; ++s)
        if (active[s]) A.push_back(s);
      for (int64_t q = 0; q < P; ++q)
        if (active[pairs[q].first] && active[pairs[q].second]) AP.push_back(q);
      at::Tensor Ux1 = at::zeros({S, S, N, out}, opts);  // [s, t]: U_s·x_t (first derivative along t)
      at::Tensor Ux2 = at::zeros({S, N, out}, opts);     // U_s·x_ss
      if (L.weight_group >= 0) {
        const int64_t s = L.weight_group;
        const at::Tensor Ut = L.dweight.t();
        Ux[s] = at::matmul(z.v, Ut);
        if (!A.empty()) Ux1[s].index_copy_(0, rows(A), at::matmul(z.d1.index_select(0, rows(A)), Ut));
        if (active[s]) Ux2[s] = at::matmul(z.d2[pair_of[s][s]], Ut);
      }
      // first: W x' + U x; mixed: y_ij = W x_ij + U_i x_j + U_j x_i; third: W x_sss + 3 U_s x_ss
      y.d1 = Ux;
      y.d2 = Ux1.index({pi, pj}) + Ux1.index({pj, pi});
      y.d3 = 3 * Ux2;
      if (!A.empty()) {
        y.d1.index_add_(0, rows(A), at::matmul(z.d1.index_select(0, rows(A)), Wt));
        y.d3.index_add_(0, rows(A), at::matmul(z.d3.index_select(0, rows(A)), Wt));
      }
      if (!AP.empty()) y.d2.index_add_(0, rows(AP), at::matmul(z.d2.index_select(0, rows(AP)), Wt));
    }
    if (L.weight_group >= 0) active[L.weight_group] = true;
    if (L.bias_group >= 0) active[L.bias_group] = true;
    if (L.bias_group >= 0) y.d1[L.bias_group] += L.dbias;
    if (k + 1 == layers.size()) {
      z = y;
      break;
    }
    Derivatives f = activate(activation, y.v);
    const at::Tensor a1 = y.d1, a2diag = y.d2.index({diag_index});
    z.v = f.f;
    z.d1 = f.f1 * a1;
    z.d2 = f.f1 * y.d2 + f.f2 * a1.index({pi}) * a1.index({pj});
    z.d3 = f.f1 * y.d3 + 3 * f.f2 * a1 * a2diag + f.f3 * a1 * a1 * a1;
  }

  // The loss's derivatives from the output jets o (value, d1 [S,N,C], d2 [P,N,C], d3 [S,N,C]).
  const Jet& o = z;
  const int64_t N = o.v.size(0);
  at::Tensor dg, dH, d3;  // [S], [P], [S]
  if (loss == Loss::LogSoftmaxNll) {
    at::Tensor p = at::softmax(o.v, 1);  // [N, C]
    auto E = [&](const at::Tensor& a) { return (a * p).sum(-1, true); };  // expectation over classes
    at::Tensor m1 = E(o.d1), c1 = o.d1 - m1;                               // [S,N,1], centred a1
    at::Tensor o2diag = o.d2.index({diag_index});
    at::Tensor l1 = o.d1 - m1;
    at::Tensor lse_ij = E(o.d2) + E(c1.index({pi}) * c1.index({pj}));     // E[a_ij] + Cov(a_i, a_j)
    at::Tensor l2 = o.d2 - lse_ij;
    at::Tensor c2 = o2diag - E(o2diag);
    at::Tensor lse3 = E(o.d3) + 3 * E(c1 * c2) + E(c1 * c1 * c1);          // E[a3] + 3 Cov(a1,a2) + κ3(a1)
    at::Tensor l3 = o.d3 - lse3;
    at::Tensor idx = target.reshape({1, N, 1});
    auto pick = [&](const at::Tensor& l) { return -l.gather(2, idx.expand({l.size(0), N, 1})).squeeze(2).mean(1); };
    dg = pick(l1);
    dH = pick(l2);
    d3 = pick(l3);
  } else {
    at::Tensor r = o.v - target;  // [N, C]
    const double scale = 2.0 / static_cast<double>(o.v.numel());
    at::Tensor o2diag = o.d2.index({diag_index});
    dg = scale * (r * o.d1).sum({1, 2});
    dH = scale * (o.d1.index({pi}) * o.d1.index({pj}) + r * o.d2).sum({1, 2});
    d3 = scale * (3 * o.d1 * o2diag + r * o.d3).sum({1, 2});
  }
  at::Tensor H = at::zeros({S, S}, opts);
  H.index_put_({pi, pj}, dH);
  H.index_put_({pj, pi}, dH);
  return {H, dg, options.noregul ? at::zeros({S}, opts) : d3};
}

}  // namespace grnewt::taylor
