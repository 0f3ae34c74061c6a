#include "core/taylor.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <string>

#include "core/errors.h"

namespace grnewt::taylor {

namespace {

// The jets of the current activation (see jets.h) and which rows hold what, per subset and pair.
class Jets {
 public:
  Jets(at::Tensor value, int64_t S, const summaries::Options& options)
      : J(value.unsqueeze(0).contiguous()), S_(S), third_(!options.noregul), diagonal_(options.diagonal),
        d1_(S, -1), d3_(S, -1), d2_(S * S, -1) {}

  at::Tensor J;  // [rows, N, ...]

  bool active(int64_t s) const { return s >= 0 && d1_[s] >= 0; }
  bool third() const { return third_; }
  bool has_pair(int64_t i, int64_t j) const { return !diagonal_ || i == j; }
  int64_t d1(int64_t s) const { return d1_[s]; }
  int64_t d3(int64_t s) const { return d3_[s]; }
  int64_t d2(int64_t i, int64_t j) const { return d2_[i * S_ + j]; }
  const std::vector<int64_t>& order() const { return order_; }  // active subsets, in activation order
  int64_t rows() const { return rows_; }

  // Gives subset s its rows (d1, d3, and a pair with every active subset including itself), appended.
  void activate(int64_t s) {
    if (s < 0 || active(s)) return;
    d1_[s] = rows_++;
    if (third_) d3_[s] = rows_++;
    order_.push_back(s);
    for (int64_t t : order_)
      if (has_pair(s, t)) d2_[s * S_ + t] = d2_[t * S_ + s] = rows_++;
  }

  // The row tables of the elementwise kernel.
  jets::Rows kernel_rows() const {
    jets::Rows r;
    for (size_t a = 0; a < order_.size(); ++a) {
      const int64_t s = order_[a];
      r.d1.push_back(d1_[s]);
      if (third_) r.d3.push_back(d3_[s]);
      r.diag.push_back(d2(s, s));
      for (size_t b = 0; b <= a; ++b)
        if (has_pair(s, order_[b])) {
          r.pair.push_back(d2(s, order_[b]));
          r.pair_a.push_back(static_cast<int64_t>(a));
          r.pair_b.push_back(static_cast<int64_t>(b));
        }
    }
    return r;
  }

 private:
  int64_t S_;
  bool third_, diagonal_;
  std::vector<int64_t> d1_, d3_, d2_, order_;
  int64_t rows_ = 1;
};

// y = layer(x) for every row, with the terms of the direction U on the weight (bilinear rule):
//   y_s += U x (s the weight's subset),  y_st += U x_t (twice for t = s),  y_sss += 3 U x_ss;
// and the bias direction v: y_s += v for the bias's subset.
// `Layer` provides all(J, W, rows): W applied to every row of J, as a tensor with `rows` rows (the new ones
// zero), and add(out, x, U, alpha): out += alpha · U applied to x.
template <typename Layer>
void bilinear(Jets& z, const Op& op, const Layer& layer, const std::vector<int64_t>& bias_shape) {
  const std::vector<int64_t> before = z.order();
  std::vector<int64_t> d1_before;  // rows of x_t for t active before this layer
  for (int64_t t : before) d1_before.push_back(z.d1(t));
  const int64_t s = op.dweight.defined() ? op.weight_group : -1;
  const int64_t x_ss = z.active(s) ? z.d2(s, s) : -1;
  const auto scaled = [&](const at::Tensor& w) { return op.input_scale == 1 ? w : w * op.input_scale; };

  z.activate(s);
  if (op.dbias.defined()) z.activate(op.bias_group);
  const at::Tensor& J = z.J;
  at::Tensor Y = layer.all(J, scaled(op.weight), z.rows());
  if (op.bias.defined()) Y[0].add_(op.bias.view(bias_shape));
  if (s >= 0) {
    const at::Tensor U = scaled(op.dweight);
    at::Tensor y_s = Y[z.d1(s)];
    layer.add(y_s, J[0], U, 1);
    for (size_t k = 0; k < before.size(); ++k)
      if (z.has_pair(s, before[k])) {
        at::Tensor y_st = Y[z.d2(s, before[k])];
        layer.add(y_st, J[d1_before[k]], U, before[k] == s ? 2 : 1);
      }
    if (z.third() && x_ss >= 0) {
      at::Tensor y_sss = Y[z.d3(s)];
      layer.add(y_sss, J[x_ss], U, 3);
    }
  }
  if (op.dbias.defined() && op.bias_group >= 0) Y[z.d1(op.bias_group)].add_(op.dbias.view(bias_shape));
  z.J = Y;
}

// One GEMM for all rows, written straight into the result (no copy when rows are added).
struct LinearLayer {
  at::Tensor all(const at::Tensor& J, const at::Tensor& W, int64_t rows) const {
    const int64_t R = J.size(0), N = J.size(1), out = W.size(0);
    at::Tensor Y = at::empty({rows, N, out}, J.options());
    at::Tensor head = Y.narrow(0, 0, R).view({R * N, out});
    at::mm_out(head, J.reshape({R * N, J.size(2)}), W.t());
    if (rows > R) Y.narrow(0, R, rows - R).zero_();
    return Y;
  }
  void add(at::Tensor& out, const at::Tensor& x, const at::Tensor& U, double alpha) const { out.addmm_(x, U.t(), 1, alpha); }
};

void linear(Jets& z, const Op& op) {
  if (z.J.dim() != 3) throw RangeError("a Linear layer needs [N, features] inputs, got rank " + std::to_string(z.J.dim() - 1));
  bilinear(z, op, LinearLayer{}, {-1});
}

struct Conv2dLayer {
  const ops::Conv2dOptions& o;
  at::Tensor conv(const at::Tensor& x, const at::Tensor& w) const { return at::conv2d(x, w, {}, o.stride, o.padding, o.dilation, o.groups); }
  // A few rows per convolution, written into the result: one convolution over every row at once needs its
  // unfolded input for all of them (float64 LeNet at batch 1000: 600 MB) and a copy to append the new rows.
  at::Tensor all(const at::Tensor& J, const at::Tensor& W, int64_t rows) const {
    constexpr int64_t kRowsPerCall = 2;
    const int64_t R = J.size(0);
    at::Tensor first = conv(J.narrow(0, 0, std::min(R, kRowsPerCall)).flatten(0, 1), W);
    std::vector<int64_t> shape{rows, J.size(1)};
    for (int64_t d = 1; d < first.dim(); ++d) shape.push_back(first.size(d));
    at::Tensor Y = at::empty(shape, J.options());
    Y.narrow(0, 0, std::min(R, kRowsPerCall)).view_as(first).copy_(first);
    first.reset();
    for (int64_t r = kRowsPerCall; r < R; r += kRowsPerCall) {
      const int64_t n = std::min(kRowsPerCall, R - r);
      at::Tensor part = Y.narrow(0, r, n);
      part.view({n * J.size(1), shape[2], shape[3], shape[4]}).copy_(conv(J.narrow(0, r, n).flatten(0, 1), W));
    }
    if (rows > R) Y.narrow(0, R, rows - R).zero_();
    return Y;
  }
  void add(at::Tensor& out, const at::Tensor& x, const at::Tensor& U, double alpha) const { out.add_(conv(x, U), alpha); }
};

void conv2d(Jets& z, const Op& op) {
  if (z.J.dim() != 5) throw RangeError("a Conv2d layer needs [N, C, H, W] inputs, got rank " + std::to_string(z.J.dim() - 1));
  bilinear(z, op, Conv2dLayer{op.conv}, {-1, 1, 1});
}

// Max-pooling is linear where the maximum is unique: every row is routed through the value's argmax.
void max_pool2d(Jets& z, const Op& op) {
  if (z.J.dim() != 5) throw RangeError("a MaxPool2d layer needs [N, C, H, W] inputs, got rank " + std::to_string(z.J.dim() - 1));
  const ops::MaxPool2dOptions& o = op.pool;
  const auto pooled = at::max_pool2d_with_indices(z.J[0], o.kernel_size, o.stride.empty() ? o.kernel_size : o.stride, o.padding, o.dilation,
                                                  o.ceil_mode);
  const at::Tensor& index = std::get<1>(pooled);  // [N, C, Ho, Wo], flat positions in H·W
  const int64_t R = z.J.size(0), N = index.size(0), C = index.size(1), L = index.size(2) * index.size(3);
  z.J = z.J.flatten(3).gather(3, index.reshape({1, N, C, L}).expand({R, N, C, L})).view({R, N, C, index.size(2), index.size(3)});
}

// Where the summaries' ingredients are in the output jets: per active subset its rows, per pair of active
// subsets its row and its place (a·A + b) in an A×A matrix over the active subsets (int64, on J's device).
struct Layout {
  int64_t A = 0;
  at::Tensor subsets, d1, pair_i, pair_j, pair_row, pair_ab, d3, diag;
};

Layout layout_of(const Jets& z, const at::Device& device) {
  std::vector<int64_t> subsets, d1, pi, pj, prow, pab, d3, diag;
  const std::vector<int64_t>& order = z.order();
  const int64_t A = static_cast<int64_t>(order.size());
  for (int64_t a = 0; a < A; ++a) {
    const int64_t s = order[a];
    subsets.push_back(s), d1.push_back(z.d1(s)), diag.push_back(z.d2(s, s));
    if (z.third()) d3.push_back(z.d3(s));
    for (int64_t b = 0; b < A; ++b)
      if (z.has_pair(s, order[b])) pi.push_back(s), pj.push_back(order[b]), prow.push_back(z.d2(s, order[b])), pab.push_back(a * A + b);
  }
  auto on_device = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device); };
  return {A, on_device(subsets), on_device(d1), on_device(pi), on_device(pj), on_device(prow), on_device(pab), on_device(d3), on_device(diag)};
}

// ḡ, H̄ and order3 from their values per active subset / pair; zeros for the subsets never reached.
summaries::Hg assemble(int64_t S, const at::TensorOptions& options, const Layout& L, const at::Tensor& g_values, const at::Tensor& H_values,
                       const at::Tensor& o3_values) {
  at::Tensor H = at::zeros({S, S}, options), g = at::zeros({S}, options), o3 = at::zeros({S}, options);
  if (L.A == 0) return {H, g, o3};
  g.index_put_({L.subsets}, g_values);
  H.index_put_({L.pair_i, L.pair_j}, H_values);
  if (o3_values.defined()) o3.index_put_({L.subsets}, o3_values);
  return {H, g, o3};
}

summaries::Hg cross_entropy(const Jets& z, const at::Tensor& labels, at::Tensor& loss, int64_t S) {
  const at::Tensor& J = z.J;  // [R, N, C]
  if (J.dim() != 3) throw RangeError("cross-entropy needs [N, classes] outputs");
  const int64_t R = J.size(0), N = J.size(1);
  if (labels.dim() != 1 || labels.size(0) != N || labels.scalar_type() != at::kLong)
    throw RangeError("cross-entropy needs int64 labels [N] with N = " + std::to_string(N));
  const at::Tensor p = at::softmax(J[0], 1);
  loss = -at::log_softmax(J[0], 1).gather(1, labels.view({N, 1})).mean();
  const Layout L = layout_of(z, J.device());
  if (L.A == 0) return assemble(S, J.options(), L, {}, {}, {});
  // l = y − lse(y): each row's NLL term is −mean_n(a[n, y_n] − E[a]), minus lse's higher-order terms
  // (covariances under p), added below.
  const at::Tensor E = (J * p).sum(-1);                                                                      // [R, N]
  const at::Tensor lin = (J.gather(2, labels.view({1, N, 1}).expand({R, N, 1})).squeeze(2) - E).mean(1);  // [R]
  const at::Tensor C1 = J.index_select(0, L.d1) - E.index_select(0, L.d1).unsqueeze(-1);  // centred a_s, [A, N, C]
  const at::Tensor cov = at::mm((C1 * p).view({L.A, -1}), C1.view({L.A, -1}).t()) / N;    // mean over n of Cov(a_i, a_j)
  at::Tensor o3;
  if (z.third()) {
    // lse‴ = E[a3] + 3 Cov(a1, a2) + κ3(a1): with c the centred jets, Cov(a1, a2) = E[c1 c2], κ3 = E[c1³].
    const at::Tensor C2 = J.index_select(0, L.diag) - E.index_select(0, L.diag).unsqueeze(-1);
    const at::Tensor higher = ((3 * C2 + C1 * C1) * C1 * p).sum({1, 2}) / N;  // [A]
    o3 = -(lin.index_select(0, L.d3) - higher);
  }
  return assemble(S, J.options(), L, -lin.index_select(0, L.d1),
                  -(lin.index_select(0, L.pair_row) - cov.view({-1}).index_select(0, L.pair_ab)), o3);
}

summaries::Hg mse(const Jets& z, const at::Tensor& target, at::Tensor& loss, int64_t S) {
  const at::Tensor& J = z.J;
  if (!target.sizes().equals(J[0].sizes()))
    throw RangeError("mse: the target's shape must be the output's, " + std::to_string(J[0].numel()) + " elements");
  const at::Tensor r = J[0] - target;
  loss = (r * r).mean();
  const Layout L = layout_of(z, J.device());
  if (L.A == 0) return assemble(S, J.options(), L, {}, {}, {});
  const double scale = 2.0 / static_cast<double>(r.numel());
  const at::Tensor flat = J.reshape({J.size(0), -1});
  const at::Tensor rdot = at::mv(flat, r.reshape({-1}));  // Σ r·row, per row
  const at::Tensor A1 = flat.index_select(0, L.d1);
  const at::Tensor gram = at::mm(A1, A1.t());  // Σ a_i a_j
  at::Tensor o3;
  if (z.third()) o3 = scale * (3 * (A1 * flat.index_select(0, L.diag)).sum(1) + rdot.index_select(0, L.d3));
  return assemble(S, J.options(), L, scale * rdot.index_select(0, L.d1),
                  scale * (gram.view({-1}).index_select(0, L.pair_ab) + rdot.index_select(0, L.pair_row)), o3);
}

void check_op(const Op& op, int64_t S, size_t k) {
  const std::string where = "model step " + std::to_string(k);
  if (op.kind != Op::Kind::Linear && op.kind != Op::Kind::Conv2d) return;
  if (!op.weight.defined()) throw TypeError(where + ": a layer needs a weight");
  for (int64_t group : {op.weight_group, op.bias_group})
    if (group < -1 || group >= S) throw RangeError(where + ": subset " + std::to_string(group) + " is out of range [0, " + std::to_string(S) + ")");
  if (op.dweight.defined() && !op.dweight.sizes().equals(op.weight.sizes())) throw RangeError(where + ": the weight's direction has another shape");
  if (op.dbias.defined() && (!op.bias.defined() || !op.dbias.sizes().equals(op.bias.sizes())))
    throw RangeError(where + ": the bias's direction has another shape");
}

}  // namespace

Result summaries(const std::vector<Op>& model, Loss loss, const at::Tensor& x, const at::Tensor& target, int64_t S,
                 const summaries::Options& options) {
  at::NoGradGuard no_grad;
  if (S < 1) throw RangeError("the partition has no subset");
  for (size_t k = 0; k < model.size(); ++k) check_op(model[k], S, k);
  Jets z(x, S, options);
  for (const Op& op : model) {
    switch (op.kind) {
      case Op::Kind::Linear: linear(z, op); break;
      case Op::Kind::Conv2d: conv2d(z, op); break;
      case Op::Kind::MaxPool2d: max_pool2d(z, op); break;
      case Op::Kind::Flatten: z.J = z.J.flatten(2); break;
      case Op::Kind::Activation:
        z.J = z.J.contiguous();
        jets::propagate_elementwise(z.J, z.kernel_rows(), op.activation);
        break;
    }
  }
  Result result;
  result.hg = loss == Loss::CrossEntropy ? cross_entropy(z, target, result.loss, S) : mse(z, target, result.loss, S);
  return result;
}

}  // namespace grnewt::taylor
