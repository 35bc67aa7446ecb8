#ifndef SWIFTCAP_SC_QUANT_H
#define SWIFTCAP_SC_QUANT_H
#include <stddef.h>
#include <stdint.h>

/// Weight quantization kernels. Matrices are row-major [rows, cols]; a row is one output channel
/// (PyTorch nn.Linear layout [out, in]).
///
/// int8 ("Q8 per row"): q[r, c] = round(w[r, c] / s[r]), s[r] = max|w[r, :]| / 127, q in [-127, 127].
/// q4 (group 32): each row splits into groups of 32 columns (cols % 32 == 0); each group has one
/// scale s = max|w| / 7 rounded up to a binary16 value, and 16 bytes: byte j holds element j in its
/// low nibble and element 16 + j in its high nibble, each stored as q + 8 with q in [-8, 7].
/// Dequantization: w ~= s * q. Error per element <= s / 2 (no clipping occurs by construction).
/// f16: w = binary16 value (no scale; scale pointers are ignored), row-major like the others.
enum { SC_QUANT_INT8 = 1, SC_QUANT_Q4 = 2, SC_QUANT_F16 = 3, SC_QUANT_Q4_GROUP = 32 };

/// binary16 <-> binary32 (round to nearest even; overflow -> inf).
uint16_t sc_f32_to_f16(float f);
float sc_f16_to_f32(uint16_t h);

/// Rows [r0, r1) of w -> q (int8, [rows, cols]) and scales [rows].
void sc_quantize_int8_rows(const float *w, int cols, int r0, int r1, int8_t *q, float *scales);
/// Rows [r0, r1) of w -> q (bytes [rows, cols / 2]) and binary16 scales [rows, cols / 32].
void sc_quantize_q4_rows(const float *w, int cols, int r0, int r1, uint8_t *q, uint16_t *scales_f16);

/// Rows [r0, r1) dequantized into out[(r - r0) * cols + c]. `scales` are fp32 (q4: [rows, cols / 32]).
void sc_dequantize_rows(int scheme, const void *q, const float *scales, int cols, int r0, int r1, float *out);

/// Fused dequantize-and-dot for few input rows (decode steps), [out, in] layout (nn.Linear): W is the
/// quantized [N, K] matrix (rows = output features). For n in [n0, n1), m < M:
/// y[m * ldy + n] (+)= sum_k x[m * ldx + k] * W[n, k]. No scratch; weights are read once per 4 inputs.
/// `portable` != 0 forces the plain C loops (otherwise AVX-512 when compiled in).
void sc_qgemv_nk(int scheme, const void *q, const float *scales, int K, int n0, int n1,
                 const float *x, int M, int ldx, float *y, int ldy, int accumulate, int portable);

/// The same for the [in, out] layout (GPT-2 Conv1D as stored): W is the quantized [K, N] matrix whose
/// rows are input features (int8: one scale per input row; q4: per input row and 32 output columns).
/// Computes output columns [n0, n1) of y; n0 should be a multiple of 64 for the vector path.
void sc_qgemv_kn(int scheme, const void *q, const float *scales, int K, int N, int n0, int n1,
                 const float *x, int M, int ldx, float *y, int ldy, int accumulate, int portable);

/// int8 GEMM for many input rows (qgemm.c), int8 weights only.
/// Step 1: rows [m0, m1) of x (fp32 [M, K], row stride ldx) -> qa (u8 [M, Kp], Kp = K rounded up to 4,
/// value q + 128 with q = round(x * 127 / max|row|), pad 128) and sa[m] = max|row| / 127. With `kscale`
/// ([in, out] weights: one scale per input feature k) each row is multiplied by it first.
void sc_quantize_activations_u8(const float *x, int ldx, const float *kscale, int K, int Kp, int m0, int m1,
                                uint8_t *qa, float *sa);
/// Step 2: output columns [n0, n1) of y[M, N] (+)= sa[m] * sw[n] * sum_k q(m, k) * W(n, k), W the int8
/// matrix [N, K] (`inOut` = 0, wscale = its per-row scales sw) or [K, N] (`inOut` = 1, scales already
/// folded into qa). Packs 32 columns at a time into a private buffer; VPDPBUSD when compiled in.
void sc_qgemm_u8s8(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                   const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate, int portable);
/// The same product for few rows (decode steps), reading W in its stored layout without packing:
/// output columns [n0, n1) (n0 a multiple of 4 for [out, in], of 64 for [in, out]).
void sc_qgemv_u8s8(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                   const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate, int portable);
/// Whether sc_qgemm_u8s8 has its AVX-512 VNNI kernel on this build.
int sc_qgemm_has_vnni(void);

/// Whether the vector (AVX-512) variants of the kernels above were compiled in.
int sc_quant_has_vector_kernels(void);

/// out[i] = binary16 bits of src[i] (round to nearest even), i < n.
void sc_f32_to_f16_array(const float *src, uint16_t *out, size_t n);

/// Sets the `drop` entries of w[0..n) with the smallest |w| to 0 (ties at the threshold in index
/// order). `scratch` holds n floats. NaNs are never dropped.
void sc_prune_magnitude(float *w, size_t n, size_t drop, float *scratch);

#endif
