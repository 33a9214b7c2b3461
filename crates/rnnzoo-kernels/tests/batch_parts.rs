//! The time loops split the batch into parts that run on separate threads: the results must not
//! depend on how many threads there are (outputs bit for bit; gradients up to the order in which
//! the parts' bias and peephole sums are added).
//! Batch-first row order must not change a result either.

use rnnzoo_kernels::sequence::{backward, forward};
use rnnzoo_kernels::{Cell, SequenceDims, SequenceSpec, SequenceWeights};

fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Random cell parameters for `d` (owned; [`Params::weights`] borrows them).
struct Params {
    weight_ih: Vec<f32>,
    weight_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    peephole: Vec<f32>,
}

impl Params {
    fn new(cell: Cell, d: SequenceDims, seed: u64) -> Self {
        let gh = cell.num_gates() * d.hidden;
        Self {
            weight_ih: values(d.input * gh, seed, 0.4),
            weight_hh: values(d.hidden * gh, seed + 1, 0.3),
            bias_ih: values(gh, seed + 2, 0.1),
            bias_hh: values(gh, seed + 3, 0.1),
            peephole: values(3 * d.hidden, seed + 4, 0.2),
        }
    }

    fn weights(&self) -> SequenceWeights<'_> {
        SequenceWeights {
            weight_ih: &self.weight_ih,
            weight_hh: &self.weight_hh,
            bias_ih: &self.bias_ih,
            bias_hh: &self.bias_hh,
            peephole: &self.peephole,
        }
    }
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn close(label: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{label}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{label}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let cells = [
        Cell::Rnn { relu: false },
        Cell::Lstm {
            peephole: false,
            coupled: false,
        },
        Cell::Lstm {
            peephole: true,
            coupled: true,
        },
        Cell::Gru,
    ];
    let d = SequenceDims {
        steps: 7,
        batch: 50,
        input: 5,
        hidden: 12,
    };
    for (n, cell) in cells.into_iter().enumerate() {
        for reverse in [false, true] {
            let seed = 10 * n as u64 + reverse as u64;
            let x = values(d.steps * d.batch * d.input, seed, 1.0);
            let h0 = values(d.batch * d.hidden, seed + 1, 0.5);
            let c0 = values(d.batch * d.hidden, seed + 2, 0.5);
            let params = Params::new(cell, d, seed + 3);
            let w = params.weights();
            let spec = SequenceSpec {
                cell,
                reverse,
                lengths: Some((0..d.batch).map(|b| 1 + b % d.steps).collect()),
                batch_first: false,
            };
            let rows = d.steps + spec.state_rows();
            let d_packed = values(rows * d.batch * d.hidden, seed + 8, 1.0);
            let run = || {
                let (out, saved) = forward(&spec, d, &x, &h0, &c0, &w, true);
                let grads = backward(&spec, d, &x, &w, &saved.unwrap(), &d_packed);
                (out, grads)
            };
            let (out_1, g_1) = in_pool(1, run);
            let (out_3, g_3) = in_pool(3, run);
            let label = format!("{cell:?} reverse {reverse}");
            assert_eq!(out_1, out_3, "{label}: outputs");
            for (name, a, b) in [
                ("x", &g_1.x, &g_3.x),
                ("h0", &g_1.h0, &g_3.h0),
                ("c0", &g_1.c0, &g_3.c0),
                ("weight_ih", &g_1.weight_ih, &g_3.weight_ih),
                ("weight_hh", &g_1.weight_hh, &g_3.weight_hh),
                ("bias_ih", &g_1.bias_ih, &g_3.bias_ih),
                ("bias_hh", &g_1.bias_hh, &g_3.bias_hh),
                ("peephole", &g_1.peephole, &g_3.peephole),
            ] {
                close(&format!("{label}: d{name}"), a, b, 1e-5);
            }
        }
    }
}

#[test]
fn few_row_products_split_their_columns_without_changing_a_bit() {
    use rnnzoo_kernels::sgemm::{MatRef, RightHandSide, sgemm};
    // Large enough that two threads split the columns (k·n >= 2^18), with a ragged last block.
    let (k, n) = (300, 1000);
    let b = values(k * n, 3, 0.5);
    for m in [1, 3] {
        let a = values(m * k, 4, 1.0);
        // C has a wider row stride than n, and accumulation starts from non-zero values.
        let ldc = n + 5;
        let start = values(m * ldc, 5, 1.0);
        let run = |threads: usize| {
            in_pool(threads, || {
                let mut c = start.clone();
                RightHandSide::prepare(MatRef::row_major(&b, k, n), m).multiply(
                    MatRef::row_major(&a, m, k),
                    &mut c,
                    ldc,
                    true,
                );
                c
            })
        };
        let one = run(1);
        assert_eq!(one, run(2), "m = {m}: 1 vs 2 threads");
        assert_eq!(one, run(3), "m = {m}: 1 vs 3 threads");
        // And the product is right: against the packed kernel (forced by many rows' padding).
        let mut packed = vec![0.0f32; 8 * n];
        let mut a8 = a.clone();
        a8.resize(8 * k, 0.0);
        sgemm(
            MatRef::row_major(&a8, 8, k),
            MatRef::row_major(&b, k, n),
            &mut packed,
            n,
            false,
        );
        for i in 0..m {
            let got: Vec<f32> = (0..n)
                .map(|j| one[i * ldc + j] - start[i * ldc + j])
                .collect();
            close(
                "few rows vs packed",
                &got,
                &packed[i * n..(i + 1) * n],
                1e-4,
            );
        }
        // The padding columns between n and ldc are untouched.
        for i in 0..m {
            assert_eq!(
                one[i * ldc + n..(i + 1) * ldc],
                start[i * ldc + n..(i + 1) * ldc]
            );
        }
    }
}

/// `[T, B, W]` rows as `[B, T, W]` (and back, with `steps` and `batch` swapped).
fn swap_time_and_batch(v: &[f32], steps: usize, batch: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for t in 0..steps {
        for b in 0..batch {
            let (src, dst) = ((t * batch + b) * width, (b * steps + t) * width);
            out[dst..dst + width].copy_from_slice(&v[src..src + width]);
        }
    }
    out
}

#[test]
fn batch_first_rows_give_the_time_major_results() {
    let d = SequenceDims {
        steps: 6,
        batch: 40,
        input: 5,
        hidden: 9,
    };
    for cell in [
        Cell::Rnn { relu: true },
        Cell::Lstm {
            peephole: true,
            coupled: false,
        },
        Cell::Gru,
    ] {
        for (reverse, threads) in [(false, 1), (true, 2)] {
            let x = values(d.steps * d.batch * d.input, 1, 1.0);
            let h0 = values(d.batch * d.hidden, 2, 0.5);
            let c0 = values(d.batch * d.hidden, 3, 0.5);
            let params = Params::new(cell, d, 4);
            let w = params.weights();
            let time_major = SequenceSpec {
                cell,
                reverse,
                lengths: Some((0..d.batch).map(|b| 1 + (b * 7) % d.steps).collect()),
                batch_first: false,
            };
            let batch_first = SequenceSpec {
                batch_first: true,
                ..time_major.clone()
            };
            let outputs = d.steps * d.batch * d.hidden;
            let state_rows = time_major.state_rows() * d.batch * d.hidden;
            let d_packed = values(outputs + state_rows, 9, 1.0);
            let mut d_packed_bf =
                swap_time_and_batch(&d_packed[..outputs], d.steps, d.batch, d.hidden);
            d_packed_bf.extend_from_slice(&d_packed[outputs..]);
            let x_bf = swap_time_and_batch(&x, d.steps, d.batch, d.input);
            let (out, g, out_bf, g_bf) = in_pool(threads, || {
                let (out, saved) = forward(&time_major, d, &x, &h0, &c0, &w, true);
                let g = backward(&time_major, d, &x, &w, &saved.unwrap(), &d_packed);
                let (out_bf, saved) = forward(&batch_first, d, &x_bf, &h0, &c0, &w, true);
                let g_bf = backward(&batch_first, d, &x_bf, &w, &saved.unwrap(), &d_packed_bf);
                (out, g, out_bf, g_bf)
            });
            let label = format!("{cell:?} reverse {reverse}");
            // Every row is computed as in time-major order: outputs and the per-row gradients
            // bit for bit; the weight gradients sum the rows in another order.
            assert_eq!(
                swap_time_and_batch(&out_bf[..outputs], d.batch, d.steps, d.hidden),
                out[..outputs],
                "{label}: outputs"
            );
            assert_eq!(out_bf[outputs..], out[outputs..], "{label}: final states");
            assert_eq!(
                swap_time_and_batch(&g_bf.x, d.batch, d.steps, d.input),
                g.x,
                "{label}: dx"
            );
            assert_eq!(g_bf.h0, g.h0, "{label}: dh0");
            assert_eq!(g_bf.c0, g.c0, "{label}: dc0");
            for (name, a, b) in [
                ("weight_ih", &g_bf.weight_ih, &g.weight_ih),
                ("weight_hh", &g_bf.weight_hh, &g.weight_hh),
                ("bias_ih", &g_bf.bias_ih, &g.bias_ih),
                ("bias_hh", &g_bf.bias_hh, &g.bias_hh),
                ("peephole", &g_bf.peephole, &g.peephole),
            ] {
                close(&format!("{label}: d{name}"), a, b, 1e-5);
            }
        }
    }
}

#[test]
fn recycled_buffers_never_leak_old_values_into_a_result() {
    // Large enough that every big buffer goes through the pool (`buffers`), with padded rows
    // (which the kernels must write as zeros themselves) and two parts on two threads.
    let d = SequenceDims {
        steps: 16,
        batch: 64,
        input: 16,
        hidden: 64,
    };
    for cell in [
        Cell::Lstm {
            peephole: true,
            coupled: false,
        },
        Cell::Gru,
    ] {
        let params = Params::new(cell, d, 1);
        let w = params.weights();
        let h0 = values(d.batch * d.hidden, 6, 0.5);
        let spec = SequenceSpec {
            cell,
            reverse: false,
            lengths: Some((0..d.batch).map(|b| 1 + b % d.steps).collect()),
            batch_first: true,
        };
        let rows = d.steps + spec.state_rows();
        let d_packed = values(rows * d.batch * d.hidden, 7, 1.0);
        let run = |x: &[f32]| {
            in_pool(2, || {
                let (out, saved) = forward(&spec, d, x, &h0, &h0, &w, true);
                let g = backward(&spec, d, x, &w, &saved.unwrap(), &d_packed);
                (out, g.x, g.weight_ih, g.weight_hh, g.h0)
            })
        };
        let x = values(d.steps * d.batch * d.input, 8, 1.0);
        let before = run(&x);
        // Fill the pool with NaNs: a run on a NaN input poisons the buffers it uses, and
        // NaN-filled buffers of every large size the run asks for take the rest of the pool.
        let _ = run(&vec![f32::NAN; x.len()]);
        let outputs = rows * d.batch * d.hidden;
        let poison: Vec<Vec<f32>> = [4 * outputs / rows * d.steps, outputs, outputs]
            .into_iter()
            .cycle()
            .take(9)
            .map(|len| {
                let mut buffer = rnnzoo_kernels::buffers::take(len);
                buffer.fill(f32::NAN);
                buffer
            })
            .collect();
        poison
            .into_iter()
            .for_each(rnnzoo_kernels::buffers::give_back);
        let after = run(&x);
        assert!(after.0.iter().all(|v| v.is_finite()), "{cell:?}: outputs");
        assert_eq!(before.0, after.0, "{cell:?}: outputs");
        assert_eq!(before.1, after.1, "{cell:?}: dx");
        assert_eq!(before.2, after.2, "{cell:?}: dW_ih");
        assert_eq!(before.3, after.3, "{cell:?}: dW_hh");
        assert_eq!(before.4, after.4, "{cell:?}: dh0");
    }
}
