//! Single-precision matrix product `C (+)= A · B` for the whole-sequence kernels.
//!
//! Why our own: Burn's flex backend multiplies through the `gemm` crate, which measured 65
//! GFLOP/s on one core for the recurrent step's `[32, 512] x [512, 2048]` (it re-packs the whole
//! right-hand side on every call) against 134 here (`sgemm_shapes`, AVX-512 Xeon, 2026-12-04). A recurrent layer multiplies by the same
//! `W_hh` at every step, so this module packs a right-hand side once ([`PackedRhs`]) and reuses
//! it for all steps. Large one-off products, where the crate's AVX-512 kernels (enabled by the
//! workspace's `x86-v4` feature) beat ours, go to it from [`sgemm`]. This module runs a 6x16
//! AVX2/FMA micro-kernel (a portable kernel elsewhere; a 6x32 AVX-512 one over two panels where
//! the CPU has AVX-512F) in the BLIS loop order. Products are split over rayon's threads by row
//! blocks, or by column panels when there are few rows.

use std::ops::Range;

use rayon::prelude::*;

/// Rows of the micro-kernel's tile.
const MR: usize = 6;
/// Columns of the micro-kernel's tile (two AVX registers).
const NR: usize = 16;
/// Depth of one packed block: a `KC x NR` panel of B (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows of A per task when A is read in place (row-major).
const MC: usize = 96;
/// Rows of A packed at once (transposed views): a `MC_PACKED x KC` block (256 KiB) stays in L2.
/// Each row block streams all of B once, and the weight gradients' B is the `[T·B, G·H]`
/// pre-activation gradient (26 MB for a 512-wide LSTM layer at B32 T100), far beyond L2: at
/// 96 rows `Xᵀ · dpre` (512 rows) streamed it six times and ran at 94-100 GFLOP/s on one core,
/// at 256 rows at 105 (`sgemm_shapes`, alternating runs; 512 rows gave no more).
const MC_PACKED: usize = 256;

/// A read-only strided matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "matrix [{rows}, {cols}] needs {} values, got {}",
            rows * cols,
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// A `[rows, cols]` matrix whose rows start `row_stride` values apart (`>= cols`).
    pub fn strided_rows(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            row_stride >= cols,
            "row stride {row_stride} < {cols} columns"
        );
        let needed = if rows == 0 {
            0
        } else {
            (rows - 1) * row_stride + cols
        };
        assert!(
            data.len() >= needed,
            "matrix [{rows}, {cols}] with row stride {row_stride} needs {needed} values, got {}",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether a product reads this matrix in place as its left-hand side (contiguous rows, as
    /// the micro-kernels need), rather than packing it.
    fn lhs_in_place(&self) -> bool {
        self.col_stride == 1
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// A right-hand side `B [k, n]` packed into `KC x NR` panels (columns zero-padded to a multiple
/// of `NR`), ready to be multiplied many times.
#[derive(Clone, Debug)]
pub struct PackedRhs {
    k: usize,
    n: usize,
    n_padded: usize,
    data: Vec<f32>,
}

impl PackedRhs {
    /// Packs `b`. Block `kb` (rows `kb·KC ..`) starts at `kb·KC · n_padded`; within it, panel `p`
    /// holds columns `p·NR ..` as `[kc][NR]`.
    pub fn pack(b: MatRef) -> Self {
        let (k, n) = (b.rows, b.cols);
        let n_padded = n.div_ceil(NR) * NR;
        // Recycled (see `crate::buffers`): every value, padding included, is written below.
        let mut data = crate::buffers::take(k * n_padded);
        // Row blocks are independent: packed on all threads (the backward packs `[T·B, G·H]`
        // gradients of several MB, which on one thread left the other idle).
        data.par_chunks_mut(KC * n_padded)
            .enumerate()
            .for_each(|(kb, block)| {
                let k0 = kb * KC;
                let kc = KC.min(k - k0);
                for (p, panel) in block.chunks_exact_mut(kc * NR).enumerate() {
                    let j0 = p * NR;
                    let width = NR.min(n - j0);
                    if b.col_stride == 1 {
                        pack_panel_from_rows(b, k0, j0, width, panel);
                    } else if b.row_stride == 1 {
                        pack_panel_from_columns(b, k0, j0, width, panel);
                    } else {
                        for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
                            for (jj, v) in row[..width].iter_mut().enumerate() {
                                *v = b.at(k0 + kk, j0 + jj);
                            }
                            row[width..].fill(0.0);
                        }
                    }
                }
            });
        Self {
            k,
            n,
            n_padded,
            data,
        }
    }

    /// Rows `k` of the packed matrix.
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns `n` of the packed matrix.
    pub fn cols(&self) -> usize {
        self.n
    }

    /// Panels `p..p + span` of block `k0`, which are stored one after the other.
    fn panels(&self, k0: usize, kc: usize, p: usize, span: usize) -> &[f32] {
        let start = k0 * self.n_padded + p * kc * NR;
        &self.data[start..start + span * kc * NR]
    }
}

/// Packs the `[kc][NR]` panel at rows `k0..`, columns `j0..j0 + width` of a `b` whose rows are
/// contiguous (unit column stride), zero-padding the columns past `width`.
fn pack_panel_from_rows(b: MatRef, k0: usize, j0: usize, width: usize, panel: &mut [f32]) {
    for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
        let start = (k0 + kk) * b.row_stride + j0;
        if width == NR {
            // A fixed-size copy compiles to vector moves; `copy_from_slice` of a runtime width
            // was a `memmove` call per 64 bytes.
            let src: &[f32; NR] = b.data[start..start + NR].try_into().expect("NR values");
            let dst: &mut [f32; NR] = row.try_into().expect("NR values");
            *dst = *src;
        } else {
            row[..width].copy_from_slice(&b.data[start..start + width]);
            row[width..].fill(0.0);
        }
    }
}

/// Packs the `[kc][NR]` panel at rows `k0..`, columns `j0..j0 + width` of a `b` whose columns are
/// contiguous (a transposed row-major matrix, as the backward's `W_hhᵀ` and `W_ihᵀ`): one
/// contiguous read per column, scattered into the panel, which stays in L1. Reading the panel
/// row by row instead gathered each value from a different row of the source (with an index
/// multiply and a bounds check each).
fn pack_panel_from_columns(b: MatRef, k0: usize, j0: usize, width: usize, panel: &mut [f32]) {
    let kc = panel.len() / NR;
    if width < NR {
        panel.fill(0.0);
    }
    for jj in 0..width {
        let start = (j0 + jj) * b.col_stride + k0;
        let column = &b.data[start..start + kc];
        for (row, &v) in panel.chunks_exact_mut(NR).zip(column) {
            row[jj] = v;
        }
    }
}

impl Drop for PackedRhs {
    fn drop(&mut self) {
        crate::buffers::give_back(std::mem::take(&mut self.data));
    }
}

/// Products with at most this many rows skip packing: packing `B` costs a full pass over it,
/// which only pays off when its panels are reused by many rows (batch-1 generation multiplies
/// a `[1, H]` state by a `[H, G·H]` matrix once per token).
pub const SMALL_ROWS: usize = 4;

/// Multiply-adds (`m · k · n`) from which a one-off product goes to the `gemm` crate.
const GEMM_CRATE_MIN: usize = 1 << 20;

/// Whether an `[m, k] · [k, n]` product has the multiply-adds from which the `gemm` crate wins.
pub fn large_for_gemm_crate(m: usize, k: usize, n: usize) -> bool {
    m * k * n >= GEMM_CRATE_MIN
}

/// `C = A · B`, or `C += A · B` when `accumulate`, with `C` row-major `[a.rows, b.cols]` and
/// row stride `ldc`, for a product computed once (nothing to reuse across calls).
///
/// Large ones go to the `gemm` crate (Burn's flex matmul, with its AVX-512 kernels under the
/// workspace's `x86-v4` feature): on one core of an AVX-512 Xeon it ran them at 162-189 GFLOP/s
/// against 88-137 for this module's kernel (`sgemm_shapes`, 2026-12-04: the whole-sequence
/// `X · W_ih`, both backward products and every output-layer product), and it took bench config
/// g from 468 to 376 ms a step. Few-row products stream `B` in place and
/// small ones skip the crate's setup; both stay here.
pub fn sgemm(a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
    if a.rows > SMALL_ROWS && large_for_gemm_crate(a.rows, a.cols, b.cols) {
        gemm_crate(a, b, c, ldc, accumulate, rayon::current_num_threads());
    } else {
        RightHandSide::prepare(b, a.rows).multiply(a, c, ldc, accumulate);
    }
}

/// Checks that `A · B` (`B` with `k` rows and `n` columns) fits a `C` of `c_len` values with row
/// stride `ldc`, panicking with the mismatch; false when the product is empty (nothing to do).
fn check_product(a: &MatRef, k: usize, n: usize, c_len: usize, ldc: usize) -> bool {
    let m = a.rows;
    assert_eq!(
        a.cols, k,
        "inner dimensions differ: A has {} columns, B {k} rows",
        a.cols
    );
    assert!(ldc >= n, "ldc {ldc} < n {n}");
    if m == 0 || n == 0 {
        return false;
    }
    assert!(c_len >= (m - 1) * ldc + n, "C is too small");
    true
}

/// [`sgemm`] through the `gemm` crate on `threads` threads (1: the calling thread), whatever
/// the size (`sgemm_shapes` times it beside this module's kernel).
pub fn gemm_crate(
    a: MatRef,
    b: MatRef,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    let (m, n, k) = (a.rows, b.cols, b.rows);
    if !check_product(&a, k, n, c.len(), ldc) {
        return;
    }
    let reach = |v: &MatRef| {
        if v.rows == 0 || v.cols == 0 {
            0
        } else {
            (v.rows - 1) * v.row_stride + (v.cols - 1) * v.col_stride + 1
        }
    };
    assert!(a.data.len() >= reach(&a) && b.data.len() >= reach(&b));
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let stride = |s: usize| isize::try_from(s).expect("stride fits in isize");
    // SAFETY: the asserts above keep every element the strides address inside `a`, `b` and
    // `c`; `c` is borrowed mutably, so nothing else reads or writes it meanwhile. With
    // `read_dst` the crate computes `C = 1 · C + 1 · A · B`, without it `C = A · B`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            stride(ldc),
            accumulate,
            a.data.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.data.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A right-hand side prepared for repeated products with `rows`-row left-hand sides: packed,
/// or (few rows and unit column stride) read in place.
#[derive(Clone, Debug)]
pub enum RightHandSide<'a> {
    /// Packed once, for many-row products.
    Packed(PackedRhs),
    /// Streamed row by row.
    InPlace(MatRef<'a>),
}

impl<'a> RightHandSide<'a> {
    /// Prepares `b` for products whose left-hand sides have `rows` rows.
    pub fn prepare(b: MatRef<'a>, rows: usize) -> Self {
        if rows <= SMALL_ROWS && b.col_stride == 1 {
            Self::InPlace(b)
        } else {
            Self::Packed(PackedRhs::pack(b))
        }
    }

    /// `C (+)= A · B`, split over rayon's threads when large enough.
    pub fn multiply(&self, a: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
        match self {
            Self::Packed(b) => sgemm_packed(a, b, c, ldc, accumulate),
            Self::InPlace(b) => sgemm_few_rows(a, *b, c, ldc, accumulate, true),
        }
    }

    /// `C (+)= A · B` on the calling thread only (for callers that already run one task per
    /// thread).
    pub fn multiply_on_this_thread(&self, a: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
        match self {
            Self::Packed(b) => sgemm_packed_split(a, b, c, ldc, accumulate, 1),
            Self::InPlace(b) => sgemm_few_rows(a, *b, c, ldc, accumulate, false),
        }
    }
}

/// `B` elements (`k · n`) from which a few-rows product splits its columns over the threads:
/// below about a megabyte of weights the fork and join cost more than the halved pass over `B`.
const FEW_ROWS_PARALLEL_MIN: usize = 1 << 18;

/// `C (+)= A · B` for a few rows: one pass over `B`'s rows, each added, scaled, into every row
/// of `C` (which stays in L1). Memory-bound on `B`, as a matrix-vector product is, so with
/// several threads and a large `B` each thread streams its own block of columns.
fn sgemm_few_rows(a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool, split: bool) {
    let (n, k) = (b.cols, b.rows);
    assert_eq!(b.col_stride, 1, "B must be row-major");
    if !check_product(&a, k, n, c.len(), ldc) {
        return;
    }
    let threads = rayon::current_num_threads();
    let parts = if split && threads > 1 && k * n >= FEW_ROWS_PARALLEL_MIN {
        threads.min(n / NR).max(1)
    } else {
        1
    };
    let out = OutPtr(c.as_mut_ptr());
    let task = |p: usize| {
        // Column blocks start at multiples of NR, so each block's inner loop stays aligned.
        let start = (p * n / parts) / NR * NR;
        let end = if p + 1 == parts {
            n
        } else {
            ((p + 1) * n / parts) / NR * NR
        };
        let columns = start..end;
        // SAFETY: see `OutPtr`; block `p` touches only its own columns of every row.
        unsafe { few_rows_columns(a, b, out, ldc, columns, accumulate) };
    };
    if parts == 1 {
        task(0);
    } else {
        (0..parts).into_par_iter().for_each(task);
    }
}

/// Columns `columns` of [`sgemm_few_rows`].
///
/// # Safety
/// `out` must point to a row-major C with stride `ldc` covering `a.rows` rows and these
/// columns, and no other thread may touch them meanwhile.
unsafe fn few_rows_columns(
    a: MatRef,
    b: MatRef,
    out: OutPtr,
    ldc: usize,
    columns: Range<usize>,
    accumulate: bool,
) {
    let (m, k) = (a.rows, b.rows);
    let width = columns.len();
    if width == 0 {
        return;
    }
    crate::simd(
        #[inline(always)]
        || {
            // SAFETY: in bounds and exclusive by the caller's contract; rows never overlap.
            let row = |i: usize| unsafe {
                std::slice::from_raw_parts_mut(out.0.add(i * ldc + columns.start), width)
            };
            if !accumulate {
                for i in 0..m {
                    row(i).fill(0.0);
                }
            }
            for p in 0..k {
                let start = p * b.row_stride + columns.start;
                let b_row = &b.data[start..start + width];
                for i in 0..m {
                    let scale = a.at(i, p);
                    for (cv, bv) in row(i).iter_mut().zip(b_row) {
                        *cv += scale * bv;
                    }
                }
            }
        },
    );
}

/// A raw pointer to `C` that tasks writing disjoint tiles share.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of C's elements (distinct row blocks or column
// ranges), and the borrow of C outlives the parallel section.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `C (+)= A · B` with a pre-packed `B`.
pub fn sgemm_packed(a: MatRef, b: &PackedRhs, c: &mut [f32], ldc: usize, accumulate: bool) {
    sgemm_packed_split(a, b, c, ldc, accumulate, rayon::current_num_threads());
}

/// [`sgemm_packed`] in tasks for `threads` threads (1: on the calling thread).
fn sgemm_packed_split(
    a: MatRef,
    b: &PackedRhs,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    let (m, n, k) = (a.rows, b.n, b.k);
    if !check_product(&a, k, n, c.len(), ldc) {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let panels = b.n_padded / NR;
    let block_rows = if a.lhs_in_place() { MC } else { MC_PACKED };
    let row_blocks = m.div_ceil(block_rows);
    // Enough tasks to keep every thread busy: row blocks first, then column chunks.
    let column_chunks = if threads == 1 || row_blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(row_blocks).min(panels)
    };
    let panels_per_chunk = panels.div_ceil(column_chunks);
    let out = OutPtr(c.as_mut_ptr());
    let task = |index: usize| {
        let rb = index / column_chunks;
        let cc = index % column_chunks;
        let rows = rb * block_rows..m.min((rb + 1) * block_rows);
        let panel_range = cc * panels_per_chunk..panels.min((cc + 1) * panels_per_chunk);
        // SAFETY: see `OutPtr`; this task touches rows `rows` and the columns of `panel_range`.
        unsafe { block_product(a, b, out, ldc, accumulate, rows, panel_range) };
    };
    let tasks = row_blocks * column_chunks;
    if tasks == 1 || threads == 1 {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// One task: rows `rows` of C, column panels `panel_range`, all of `k`.
///
/// # Safety
/// `out` must point to a row-major C with stride `ldc` covering these rows and columns, and no
/// other thread may touch them meanwhile.
unsafe fn block_product(
    a: MatRef,
    b: &PackedRhs,
    out: OutPtr,
    ldc: usize,
    accumulate: bool,
    rows: std::ops::Range<usize>,
    panel_range: std::ops::Range<usize>,
) {
    let n = b.n;
    let mc = rows.len();
    let row_panels = mc.div_ceil(MR);
    // A row-major A is read where it lies, MR rows at a time (`Lhs` strides `(lda, 1)`):
    // packing it cost a pass of scalar stores per depth block, a fifth of the kernel's time
    // for the small per-step products of a hidden-128 layer. Transposed views are packed.
    let in_place = a.lhs_in_place();
    // Recycled (see `crate::buffers`): `pack_lhs` writes every value the kernels read.
    let mut packed_a = if in_place {
        Vec::new()
    } else {
        crate::buffers::take(row_panels * MR * KC.min(b.k))
    };
    // Scratch for edge tiles, wide enough for two panels.
    let mut tile = [0.0f32; MR * 2 * NR];
    let kernels = micro_kernels();
    let wide_kernels = wide_kernels();
    for k0 in (0..b.k).step_by(KC) {
        let kc = KC.min(b.k - k0);
        if !in_place {
            pack_lhs(a, rows.start, mc, k0, kc, &mut packed_a);
        }
        let add = accumulate || k0 > 0;
        let mut p = panel_range.start;
        while p < panel_range.end {
            // Two adjacent panels (stored one after the other) in one pass over A where the
            // AVX-512 kernels run, else one.
            let (span, set) = match wide_kernels {
                Some(wide) if p + 1 < panel_range.end => (2, wide),
                _ => (1, kernels),
            };
            let panels = b.panels(k0, kc, p, span);
            let j0 = p * NR;
            let stride = span * NR;
            let width = stride.min(n - j0);
            p += span;
            for rp in 0..row_panels {
                let i0 = rows.start + rp * MR;
                let height = MR.min(rows.end - i0);
                let lhs = if in_place {
                    Lhs {
                        ptr: a.data[i0 * a.row_stride + k0..].as_ptr(),
                        row_stride: a.row_stride,
                        k_stride: 1,
                    }
                } else {
                    Lhs::packed(packed_a[rp * MR * kc..(rp + 1) * MR * kc].as_ptr())
                };
                // A short last row panel runs the kernel for just its rows: 32 rows are five
                // full panels and a 2-row one, which a full 6-row kernel would pad to 36.
                let kernel = set[height - 1];
                if width == stride {
                    // SAFETY: lhs addresses rows i0..i0 + height, depth k0..k0 + kc of A (in
                    // place or packed), panels span x kc x NR; the height x stride tile at
                    // (i0, j0) lies in this task's part of C.
                    unsafe { kernel(kc, lhs, panels.as_ptr(), out.0.add(i0 * ldc + j0), ldc, add) };
                    continue;
                }
                // Edge tile: compute into the scratch tile, then copy the part inside C.
                // SAFETY: as above, into the local MR x stride tile; then rows i0.. < m and
                // columns j0..j0 + width < n, which are this task's.
                unsafe {
                    kernel(kc, lhs, panels.as_ptr(), tile.as_mut_ptr(), stride, false);
                    copy_tile(&tile, stride, out, i0, j0, ldc, height, width, add);
                }
            }
        }
    }
    crate::buffers::give_back(packed_a);
}

/// Copies (or adds) the `height x width` corner of a scratch tile with row stride `stride` into
/// C at `(i0, j0)`.
///
/// # Safety
/// Those rows and columns must lie inside C and belong to the calling task.
#[allow(clippy::too_many_arguments)]
unsafe fn copy_tile(
    tile: &[f32],
    stride: usize,
    out: OutPtr,
    i0: usize,
    j0: usize,
    ldc: usize,
    height: usize,
    width: usize,
    add: bool,
) {
    for r in 0..height {
        // SAFETY: by the caller's contract.
        let dst = unsafe { std::slice::from_raw_parts_mut(out.0.add((i0 + r) * ldc + j0), width) };
        let src = &tile[r * stride..r * stride + width];
        if add {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        } else {
            dst.copy_from_slice(src);
        }
    }
}

/// Packs rows `i0..i0 + mc`, depth `k0..k0 + kc` of A as `MR`-row panels `[kc][MR]`, padding
/// the last panel's missing rows with zeros. Used for strided views only: the micro-kernels
/// read a row-major A in place.
fn pack_lhs(a: MatRef, i0: usize, mc: usize, k0: usize, kc: usize, packed: &mut [f32]) {
    for (rp, panel) in packed[..mc.div_ceil(MR) * MR * kc]
        .chunks_exact_mut(MR * kc)
        .enumerate()
    {
        let r0 = rp * MR;
        let height = MR.min(mc - r0);
        if height < MR {
            panel.fill(0.0);
        }
        // Depth outermost: in a transposed view (the weight gradients' `Xᵀ`) a panel's rows
        // lie next to each other at each depth, copied at once.
        for (kk, packed_rows) in panel.chunks_exact_mut(MR).enumerate() {
            if a.row_stride == 1 && height == MR {
                let start = (i0 + r0) + (k0 + kk) * a.col_stride;
                let src: &[f32; MR] = a.data[start..start + MR].try_into().expect("MR values");
                let dst: &mut [f32; MR] = packed_rows.try_into().expect("MR values");
                *dst = *src;
            } else {
                for (r, v) in packed_rows[..height].iter_mut().enumerate() {
                    *v = a.at(i0 + r0 + r, k0 + kk);
                }
            }
        }
    }
}

/// `C[R][NR] (+)= A[R][kc] · rhs[kc][NR]` for `R` rows of A (see [`Lhs`]), into a tile of C
/// with row stride `ldc`; adds to the tile when the last argument is true, overwrites it
/// otherwise.
type MicroKernel = unsafe fn(usize, Lhs, *const f32, *mut f32, usize, bool);

/// Where a micro-kernel reads its rows of A: element `(r, kk)` is at
/// `ptr + r·row_stride + kk·k_stride`. A packed row panel `[kc][MR]` has strides `(1, MR)`; a
/// row-major A read in place has `(lda, 1)`.
#[derive(Clone, Copy, Debug)]
struct Lhs {
    ptr: *const f32,
    row_stride: usize,
    k_stride: usize,
}

impl Lhs {
    /// A packed `[kc][MR]` row panel.
    fn packed(ptr: *const f32) -> Self {
        Self {
            ptr,
            row_stride: 1,
            k_stride: MR,
        }
    }
}

/// The micro-kernels for 1..=MR rows (index `rows - 1`).
fn micro_kernels() -> [MicroKernel; MR] {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::has_avx2_fma() {
            return [
                kernel_avx2_fma::<1>,
                kernel_avx2_fma::<2>,
                kernel_avx2_fma::<3>,
                kernel_avx2_fma::<4>,
                kernel_avx2_fma::<5>,
                kernel_avx2_fma::<6>,
            ];
        }
    }
    [
        kernel_portable::<1>,
        kernel_portable::<2>,
        kernel_portable::<3>,
        kernel_portable::<4>,
        kernel_portable::<5>,
        kernel_portable::<6>,
    ]
}

/// The AVX-512 kernels for 1..=MR rows over two adjacent panels (a `R x 2NR` tile), where the
/// CPU has AVX-512F. One 16-lane register covers a panel row, so a step of `k` is two loads of
/// B, `R` broadcasts of A and `2R` fused multiply-adds: half the instructions of two AVX2
/// passes. Cores with two 512-bit FMA units (Intel's server parts) run twice the AVX2 rate;
/// Zen 4 splits each 512-bit operation in two and gains only the fewer instructions.
fn wide_kernels() -> Option<[MicroKernel; MR]> {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::has_avx512f() {
            return Some([
                kernel_avx512::<1>,
                kernel_avx512::<2>,
                kernel_avx512::<3>,
                kernel_avx512::<4>,
                kernel_avx512::<5>,
                kernel_avx512::<6>,
            ]);
        }
    }
    None
}

/// `C[R][2NR] (+)= A[R][kc] · [rhs0 | rhs1]` where `rhs` holds the two panels `[kc][NR]`
/// one after the other.
///
/// # Safety
/// `lhs` must address `R x kc` values of A and `rhs` hold `2·kc·NR` values, `c` must address
/// an `R x 2NR` tile with row stride `ldc`, and the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512<const R: usize>(
    kc: usize,
    lhs: Lhs,
    rhs: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (mut a, mut b0, mut b1) = (lhs.ptr, rhs, rhs.wrapping_add(kc * NR));
    for _ in 0..kc {
        // SAFETY: `a` advances along A's depth and `b0`, `b1` by NR per iteration, kc times,
        // inside A's R rows and the two panels of rhs.
        unsafe {
            let v0 = _mm512_loadu_ps(b0);
            let v1 = _mm512_loadu_ps(b1);
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.wrapping_add(r * lhs.row_stride));
                row[0] = _mm512_fmadd_ps(av, v0, row[0]);
                row[1] = _mm512_fmadd_ps(av, v1, row[1]);
            }
        }
        a = a.wrapping_add(lhs.k_stride);
        b0 = b0.wrapping_add(NR);
        b1 = b1.wrapping_add(NR);
    }
    for (r, row) in acc.iter().enumerate() {
        let dst = c.wrapping_add(r * ldc);
        // SAFETY: row r of the tile holds 2NR values at `dst`.
        unsafe {
            let (mut v0, mut v1) = (row[0], row[1]);
            if add {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(dst));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(dst.wrapping_add(NR)));
            }
            _mm512_storeu_ps(dst, v0);
            _mm512_storeu_ps(dst.wrapping_add(NR), v1);
        }
    }
}

/// # Safety
/// `lhs` must address `R x kc` values of A and `rhs` hold `kc·NR` values, `c` must address an
/// `R x NR` tile with row stride `ldc`, and the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2_fma<const R: usize>(
    kc: usize,
    lhs: Lhs,
    rhs: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let (mut a, mut b) = (lhs.ptr, rhs);
    for _ in 0..kc {
        // SAFETY: `a` advances along A's depth and `b` by NR per iteration, kc times, inside
        // A's R rows and rhs.
        unsafe {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.wrapping_add(8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcastss_ps(_mm_load_ss(a.wrapping_add(r * lhs.row_stride)));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
        }
        a = a.wrapping_add(lhs.k_stride);
        b = b.wrapping_add(NR);
    }
    for (r, row) in acc.iter().enumerate() {
        let dst = c.wrapping_add(r * ldc);
        // SAFETY: row r of the tile holds NR values at `dst`.
        unsafe {
            let (mut v0, mut v1) = (row[0], row[1]);
            if add {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(dst));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(dst.wrapping_add(8)));
            }
            _mm256_storeu_ps(dst, v0);
            _mm256_storeu_ps(dst.wrapping_add(8), v1);
        }
    }
}

/// Portable kernel, written so the compiler vectorises it for the target's baseline SIMD.
///
/// # Safety
/// `lhs` must address `R x kc` values of A and `rhs` hold `kc·NR` values, and `c` must
/// address an `R x NR` tile with row stride `ldc`.
unsafe fn kernel_portable<const R: usize>(
    kc: usize,
    lhs: Lhs,
    rhs: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    // SAFETY: lengths as documented.
    let rhs = unsafe { std::slice::from_raw_parts(rhs, kc * NR) };
    let mut acc = [[0.0f32; NR]; R];
    for (kk, b) in rhs.chunks_exact(NR).enumerate() {
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: element (r, kk) of A's R rows, as documented.
            let av = unsafe { *lhs.ptr.add(r * lhs.row_stride + kk * lhs.k_stride) };
            for (c, &bv) in row.iter_mut().zip(b) {
                *c += av * bv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        // SAFETY: row r of the tile holds NR values.
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), NR) };
        for (d, v) in dst.iter_mut().zip(row) {
            *d = if add { *d + v } else { *v };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef, b: MatRef) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] = (0..a.cols)
                    .map(|p| a.at(i, p) as f64 * b.at(p, j) as f64)
                    .sum();
            }
        }
        c
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn rows_and_columns_pack_to_the_same_layout() {
        // Two depth blocks (the second short) and a zero-padded last panel.
        let (k, n) = (KC + 37, 3 * NR + 5);
        let b = values(k * n, 3);
        let reference: Vec<f32> = {
            // The layout written out element by element.
            let n_padded = n.div_ceil(NR) * NR;
            let mut out = vec![f32::NAN; k * n_padded];
            for i in 0..k {
                let (k0, kc) = (i / KC * KC, KC.min(k - i / KC * KC));
                for j in 0..n_padded {
                    let v = if j < n { b[i * n + j] } else { 0.0 };
                    out[k0 * n_padded + (j / NR) * kc * NR + (i - k0) * NR + j % NR] = v;
                }
            }
            out
        };
        let from_rows = PackedRhs::pack(MatRef::row_major(&b, k, n));
        assert_eq!(from_rows.data, reference, "row-major source");
        let mut transposed = vec![0.0; k * n];
        for i in 0..k {
            for j in 0..n {
                transposed[j * k + i] = b[i * n + j];
            }
        }
        let from_columns = PackedRhs::pack(MatRef::row_major(&transposed, n, k).t());
        assert_eq!(from_columns.data, reference, "transposed source");
    }

    #[test]
    fn matches_naive_product_for_odd_shapes_transposes_and_accumulation() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 40, 70),
            (3, 17, 9),
            (7, 300, 17),
            (32, 64, 48),
            (100, 513, 33),
            (5, 3, 2),
            // Pairs of panels (AVX-512) with a partial pair, a single last panel, both.
            (13, 100, 20),
            (32, 300, 100),
            (64, 257, 96),
            // Above GEMM_CRATE_MIN, so `sgemm` takes the crate's path.
            (37, 300, 101),
        ] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
            let want = naive(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
            for (lhs, rhs) in [
                (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n)),
                (
                    MatRef::row_major(&at, k, m).t(),
                    MatRef::row_major(&bt, n, k).t(),
                ),
            ] {
                // This module's kernel and the `gemm` crate's, on one and on three threads.
                type Product<'p> = dyn Fn(&mut [f32], bool) + 'p;
                let own = |c: &mut [f32], add: bool| {
                    RightHandSide::prepare(rhs, m).multiply(lhs, c, n, add)
                };
                let crate_1 = |c: &mut [f32], add: bool| gemm_crate(lhs, rhs, c, n, add, 1);
                let crate_3 = |c: &mut [f32], add: bool| gemm_crate(lhs, rhs, c, n, add, 3);
                let dispatch = |c: &mut [f32], add: bool| sgemm(lhs, rhs, c, n, add);
                let paths: [(&str, &Product); 4] = [
                    ("own", &own),
                    ("gemm crate", &crate_1),
                    ("gemm crate, 3 threads", &crate_3),
                    ("sgemm", &dispatch),
                ];
                for (path, product) in paths {
                    let mut c = vec![1.0f32; m * n];
                    product(&mut c, false);
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (*x as f64 - y).abs() < 1e-4,
                            "{path} {m}x{k}x{n}: {x} vs {y}"
                        );
                    }
                    product(&mut c, true);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((*x as f64 - 2.0 * y).abs() < 2e-4, "{path} {m}x{k}x{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn both_kernels_agree_for_every_row_count() {
        let (kc, lhs, rhs) = (37, values(37 * MR, 3), values(37 * NR, 4));
        let portable = [
            kernel_portable::<1> as MicroKernel,
            kernel_portable::<2>,
            kernel_portable::<3>,
            kernel_portable::<4>,
            kernel_portable::<5>,
            kernel_portable::<6>,
        ];
        for (rows, kernel) in micro_kernels()
            .into_iter()
            .enumerate()
            .map(|(i, k)| (i + 1, k))
        {
            // Rows past `rows` must be left alone: the tiles start at 7.0.
            let mut t1 = [7.0f32; MR * NR];
            let mut t2 = [7.0f32; MR * NR];
            // SAFETY: sizes as required; `micro_kernels` only returns the AVX2 kernels on a
            // CPU that has it.
            unsafe {
                let packed = Lhs::packed(lhs.as_ptr());
                portable[rows - 1](kc, packed, rhs.as_ptr(), t1.as_mut_ptr(), NR, false);
                kernel(kc, packed, rhs.as_ptr(), t2.as_mut_ptr(), NR, true);
                // The same rows read in place: A row-major [rows, kc], the transpose of the
                // packed panel's first `rows` columns.
                let a: Vec<f32> = (0..rows)
                    .flat_map(|r| (0..kc).map(move |kk| (r, kk)))
                    .map(|(r, kk)| lhs[kk * MR + r])
                    .collect();
                let in_place = Lhs {
                    ptr: a.as_ptr(),
                    row_stride: kc,
                    k_stride: 1,
                };
                let mut t3 = [7.0f32; MR * NR];
                kernel(kc, in_place, rhs.as_ptr(), t3.as_mut_ptr(), NR, true);
                assert_eq!(t2, t3, "{rows} rows: in place and packed");
            }
            for (i, (x, y)) in t1.iter().zip(&t2).enumerate() {
                if i < rows * NR {
                    assert!((x + 7.0 - y).abs() < 1e-5, "{rows} rows, element {i}");
                } else {
                    assert_eq!(
                        (*x, *y),
                        (7.0, 7.0),
                        "{rows} rows: row {} untouched",
                        i / NR
                    );
                }
            }
            let want: f32 = (0..kc).map(|p| lhs[p * MR] * rhs[p * NR]).sum();
            assert!((t1[0] - want).abs() < 1e-5);
        }
    }

    #[test]
    fn the_wide_kernels_equal_two_narrow_passes() {
        let Some(wide) = wide_kernels() else {
            eprintln!("no AVX-512 on this CPU: nothing to compare");
            return;
        };
        let (kc, lhs, rhs) = (29, values(29 * MR, 5), values(2 * 29 * NR, 6));
        for (rows, kernel) in wide.into_iter().enumerate().map(|(i, k)| (i + 1, k)) {
            let mut want = [3.0f32; MR * 2 * NR];
            let mut got = [3.0f32; MR * 2 * NR];
            // SAFETY: sizes as required; `wide_kernels` only returns kernels the CPU runs.
            unsafe {
                for half in 0..2 {
                    kernel_portable::<6>(
                        kc,
                        Lhs::packed(lhs.as_ptr()),
                        rhs.as_ptr().add(half * kc * NR),
                        want.as_mut_ptr().add(half * NR),
                        2 * NR,
                        true,
                    );
                }
                kernel(
                    kc,
                    Lhs::packed(lhs.as_ptr()),
                    rhs.as_ptr(),
                    got.as_mut_ptr(),
                    2 * NR,
                    true,
                );
            }
            for (i, (x, y)) in want.iter().zip(&got).enumerate() {
                if i < rows * 2 * NR {
                    assert!((x - y).abs() < 1e-5, "{rows} rows, element {i}: {x} vs {y}");
                } else {
                    assert_eq!(*y, 3.0, "{rows} rows: row {} untouched", i / (2 * NR));
                }
            }
        }
    }
}
