#ifndef SWIFTCAP_CKERNELS_CONV_H
#define SWIFTCAP_CKERNELS_CONV_H
// Convolution hot loops for SwiftCapTensor's conv2d (NCHW, fp32). Shapes in comments are
// [channels, rows, cols] of one image; the Swift side splits work across threads by channel.

/// Activation applied after the bias in a convolution epilogue.
/// 0 none, 1 relu, 2 relu6, 3 hard-swish x*clip(x+3,0,6)/6, 4 hard-sigmoid clip(a*x+b,0,1), 5 sigmoid.
enum { SC_ACT_NONE = 0, SC_ACT_RELU = 1, SC_ACT_RELU6 = 2, SC_ACT_HARDSWISH = 3,
       SC_ACT_HARDSIGMOID = 4, SC_ACT_SIGMOID = 5 };

/// Depthwise convolution of channels [c0, c1): x [C, H, W], w [C, kh, kw], bias [C] or NULL,
/// y [C, OH, OW]. Zero padding pt/pl on top/left (bottom/right implied by OH/OW).
void sc_conv_depthwise(const float *x, int H, int W, const float *w, int kh, int kw,
                       int sh, int sw, int pt, int pl, int dh, int dw,
                       const float *bias, float *y, int OH, int OW, int c0, int c1,
                       int act, float actA, float actB);

/// The portable reference form of sc_conv_depthwise (scalar loops over a padded plane); same
/// arguments and results. sc_conv_depthwise uses it for strides other than 1/2 and for dilation.
void sc_conv_depthwise_ref(const float *x, int H, int W, const float *w, int kh, int kw,
                           int sh, int sw, int pt, int pl, int dh, int dw,
                           const float *bias, float *y, int OH, int OW, int c0, int c1,
                           int act, float actA, float actB);

/// im2col for rows [r0, r1) of the column matrix: x [C, H, W] -> col [C*kh*kw, OH*OW], where row
/// r = (c*kh + i)*kw + j holds x[c, oh*sh + i*dh - pt, ow*sw + j*dw - pl] (zero outside).
void sc_im2col(const float *x, int H, int W, int kh, int kw, int sh, int sw, int pt, int pl,
               int dh, int dw, int OH, int OW, float *col, int r0, int r1);

/// In place y[c, i] = act(y[c, i] + bias[c]) for channels [c0, c1) of y [C, n]; bias may be NULL.
void sc_bias_act(float *y, int n, const float *bias, int c0, int c1, int act, float actA, float actB);

/// Block form of sc_bias_act: rows [c0, c1) of a matrix with leading dimension `ld`, columns [0, cols)
/// starting at `y` (so a caller can process one column block of a [C, n] output).
void sc_bias_act_block(float *y, int ld, int cols, const float *bias, int c0, int c1, int act, float actA, float actB);

/// Max pooling of planes [p0, p1): x [P, H, W] -> y [P, OH, OW]; window kh×kw, stride, dilation,
/// top/left padding (padded cells never win).
void sc_maxpool(const float *x, int H, int W, float *y, int OH, int OW, int kh, int kw, int sh, int sw,
                int pt, int pl, int dh, int dw, int p0, int p1);

/// y[p] = mean of x[p, 0..<n] for planes [p0, p1) (eight partial sums, then combined).
void sc_plane_mean(const float *x, int n, float *y, int p0, int p1);

/// Small-K matrix product for 1×1 convolutions with few input channels (where BLAS packing
/// dominates): y[M, ldy] columns [p0, p1) = w[M, K] @ x[K, ldx] columns [p0, p1), then bias + act.
void sc_gemm_smallk(const float *w, int M, int K, const float *x, int ldx, float *y, int ldy,
                    const float *bias, int p0, int p1, int act, float actA, float actB);

/// Register-tiled matrix product for convolutions (1×1 and im2col): rows [m0, m1) × columns [p0, p1)
/// of y[M, ldy] = w[M, K] @ x[K, ldx], then y = act(y + bias[row]) (bias may be NULL). Tiles of
/// 8 rows × 32 columns keep their sums in 16-wide vector registers over the whole K loop, with no
/// packing; written with clang vector types, so it builds for any target (AVX-512 here).
void sc_conv_gemm(const float *w, int M, int K, const float *x, int ldx, float *y, int ldy,
                  const float *bias, int m0, int m1, int p0, int p1, int act, float actA, float actB);

#endif
