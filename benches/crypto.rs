//! ESP transform throughput: every suite, seal (encrypt) and open (decrypt), 64-byte and
//! 1400-byte payloads, beside raw `ring` AES-128-GCM on the same buffers.
//!
//! Criterion measures with `Throughput::Bytes` (it prints payload bytes per second per
//! benchmark). Each measurement runs through `iter_custom`, which also records
//! criterion's own samples; after the run a summary table computed from those samples
//! (median per-packet time of the measurement phase) prints packets/s and GB/s side by
//! side, and the AES-128-GCM wrapper's overhead relative to raw ring.
//!
//! "open" includes copying the sealed packet back into the buffer each iteration (a
//! failed or repeated open would otherwise run on plaintext); raw ring does the same
//! copy, so the comparison stays fair. "seal" includes writing the sequence number.
//!
//! Run: `cargo bench --bench crypto` (about two minutes).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use shardvpn::crypto::esp::{AesGcm, AesKeySize, AnyTransform, Esn, Integrity, Suite, Transform};

const PAYLOAD_SIZES: [usize; 2] = [64, 1400];
const SAMPLE_SIZE: usize = 40;
const SPI: [u8; 4] = [0xc0, 0xff, 0xee, 0x01];
/// AES-128-GCM keying material shared by our transform and the raw ring baseline.
const GCM128_KEY: [u8; 16] = [0x42; 16];
const GCM128_SALT: [u8; 4] = [0xa1, 0xa2, 0xa3, 0xa4];

/// One criterion sample: (benchmark id, iterations, elapsed).
static SAMPLES: Mutex<Vec<(String, u64, Duration)>> = Mutex::new(Vec::new());

fn record(id: &str, iters: u64, elapsed: Duration) {
    SAMPLES
        .lock()
        .expect("bench samples")
        .push((id.to_owned(), iters, elapsed));
}

/// Times `iters` runs of `op` for criterion and records the sample for the table.
fn timed(id: &str, iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    let elapsed = start.elapsed();
    record(id, iters, elapsed);
    elapsed
}

fn suites() -> Vec<(&'static str, Suite)> {
    vec![
        (
            "AES-128-GCM-16",
            Suite::AesGcm16 {
                key: AesKeySize::Aes128,
            },
        ),
        (
            "AES-256-GCM-16",
            Suite::AesGcm16 {
                key: AesKeySize::Aes256,
            },
        ),
        (
            "AES-128-CBC+HMAC-SHA1-96",
            Suite::AesCbc {
                key: AesKeySize::Aes128,
                integrity: Integrity::HmacSha1_96,
            },
        ),
        (
            "AES-256-CBC+HMAC-SHA1-96",
            Suite::AesCbc {
                key: AesKeySize::Aes256,
                integrity: Integrity::HmacSha1_96,
            },
        ),
        (
            "AES-256-CBC+HMAC-SHA256-128",
            Suite::AesCbc {
                key: AesKeySize::Aes256,
                integrity: Integrity::HmacSha256_128,
            },
        ),
        (
            "3DES-CBC+HMAC-SHA1-96",
            Suite::TripleDesCbc {
                integrity: Integrity::HmacSha1_96,
            },
        ),
    ]
}

fn transform(suite: Suite) -> AnyTransform {
    let encryption_key: Vec<u8> = match suite {
        Suite::AesGcm16 {
            key: AesKeySize::Aes128,
        } => [&GCM128_KEY[..], &GCM128_SALT].concat(),
        _ => (1..=suite.encryption_key_len() as u8).collect(),
    };
    let integrity_key = vec![0x5a; suite.integrity_key_len()];
    AnyTransform::new(suite, Esn::Disabled, &encryption_key, &integrity_key).expect("keys")
}

/// A packet with header, payload and trailer written, ready to seal.
fn plain_packet(t: &impl Transform, payload_len: usize) -> Vec<u8> {
    let mut packet = vec![0u8; t.packet_len(payload_len)];
    packet[..4].copy_from_slice(&SPI);
    let at = t.payload_offset();
    for (i, byte) in packet[at..at + payload_len].iter_mut().enumerate() {
        *byte = i as u8;
    }
    t.encode_trailer(&mut packet, payload_len, 4)
        .expect("trailer");
    packet
}

fn bench_suites(c: &mut Criterion, range: core::ops::Range<usize>) {
    for (name, suite) in suites().drain(range) {
        bench_transform(c, name, &transform(suite));
    }
}

/// Our AES-128-GCM without the enum: what `AnyTransform`'s `match` costs.
fn bench_direct_gcm(c: &mut Criterion) {
    let material = [&GCM128_KEY[..], &GCM128_SALT].concat();
    let t = AesGcm::new(AesKeySize::Aes128, Esn::Disabled, &material).expect("key");
    bench_transform(c, "AES-128-GCM-16-direct", &t);
}

fn bench_transform(c: &mut Criterion, name: &str, t: &impl Transform) {
    let mut group = c.benchmark_group(format!("esp/{name}"));
    for size in PAYLOAD_SIZES {
        group.throughput(Throughput::Bytes(size as u64));

        let id = format!("{name}/seal/{size}");
        let mut packet = plain_packet(t, size);
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter_custom(|iters| {
                timed(&id, iters, || {
                    // Wrap well inside 32 bits: ESN is off.
                    seq = (seq + 1) & 0x7fff_ffff;
                    let packet = black_box(&mut packet[..]);
                    packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
                    t.seal(seq, packet).expect("seal");
                })
            })
        });

        let id = format!("{name}/open/{size}");
        let mut sealed = plain_packet(t, size);
        sealed[4..8].copy_from_slice(&1u32.to_be_bytes());
        t.seal(1, &mut sealed).expect("seal");
        let mut buffer = sealed.clone();
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter_custom(|iters| {
                timed(&id, iters, || {
                    buffer.copy_from_slice(&sealed);
                    let range = t.open(1, black_box(&mut buffer[..])).expect("open");
                    black_box(range);
                })
            })
        });
    }
    group.finish();
}

/// The floor for our AES-128-GCM: ring alone doing the same ESP work (nonce from
/// salt || IV, AAD = SPI || Seq, tag placed after the ciphertext).
fn bench_raw_ring(c: &mut Criterion) {
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &GCM128_KEY).expect("key"));
    let ours = transform(Suite::AesGcm16 {
        key: AesKeySize::Aes128,
    });
    let mut group = c.benchmark_group("esp/raw-ring-AES-128-GCM");
    for size in PAYLOAD_SIZES {
        group.throughput(Throughput::Bytes(size as u64));

        let id = format!("raw-ring-AES-128-GCM/seal/{size}");
        let mut packet = plain_packet(&ours, size);
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("seal", size), |b| {
            b.iter_custom(|iters| {
                timed(&id, iters, || {
                    seq = (seq + 1) & 0x7fff_ffff;
                    let packet = black_box(&mut packet[..]);
                    packet[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
                    packet[8..16].copy_from_slice(&seq.to_be_bytes());
                    let mut nonce = [0u8; 12];
                    nonce[..4].copy_from_slice(&GCM128_SALT);
                    nonce[4..].copy_from_slice(&seq.to_be_bytes());
                    let (head, rest) = packet.split_at_mut(16);
                    let split = rest.len() - 16;
                    let (body, icv) = rest.split_at_mut(split);
                    let tag = key
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(&head[..8]),
                            body,
                        )
                        .expect("seal");
                    icv.copy_from_slice(tag.as_ref());
                })
            })
        });

        let id = format!("raw-ring-AES-128-GCM/open/{size}");
        let mut sealed = plain_packet(&ours, size);
        sealed[4..8].copy_from_slice(&1u32.to_be_bytes());
        ours.seal(1, &mut sealed).expect("seal");
        let mut buffer = sealed.clone();
        group.bench_function(BenchmarkId::new("open", size), |b| {
            b.iter_custom(|iters| {
                timed(&id, iters, || {
                    buffer.copy_from_slice(&sealed);
                    let packet = black_box(&mut buffer[..]);
                    let mut nonce = [0u8; 12];
                    nonce[..4].copy_from_slice(&GCM128_SALT);
                    nonce[4..].copy_from_slice(&packet[8..16]);
                    let mut aad = [0u8; 8];
                    aad.copy_from_slice(&packet[..8]);
                    let plain = key
                        .open_in_place(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(aad),
                            &mut packet[16..],
                        )
                        .expect("open");
                    black_box(plain.len());
                })
            })
        });
    }
    group.finish();
}

/// Median nanoseconds per packet over the measurement-phase samples of `id`.
fn median_ns(samples: &[(String, u64, Duration)], id: &str) -> Option<f64> {
    let mut per_iter: Vec<f64> = samples
        .iter()
        .filter(|(name, _, _)| name == id)
        .map(|(_, iters, elapsed)| elapsed.as_nanos() as f64 / (*iters).max(1) as f64)
        .collect();
    // The last SAMPLE_SIZE calls are criterion's measurement; earlier ones are warm-up.
    let keep = per_iter.len().min(SAMPLE_SIZE);
    per_iter.drain(..per_iter.len() - keep);
    if per_iter.is_empty() {
        return None;
    }
    per_iter.sort_by(f64::total_cmp);
    Some(per_iter[per_iter.len() / 2])
}

fn print_summary() {
    let samples = SAMPLES.lock().expect("bench samples");
    let mut names: Vec<&str> = suites().iter().map(|(name, _)| *name).collect();
    names.push("raw-ring-AES-128-GCM");
    names.push("AES-128-GCM-16-direct");
    println!();
    println!("ESP transforms, median of criterion's samples (payload bytes; GB = 1e9 B)");
    println!(
        "{:<28} {:<5} {:>6} {:>10} {:>12} {:>8}",
        "suite", "op", "bytes", "ns/packet", "packets/s", "GB/s"
    );
    for name in &names {
        for op in ["seal", "open"] {
            for size in PAYLOAD_SIZES {
                let Some(ns) = median_ns(&samples, &format!("{name}/{op}/{size}")) else {
                    continue;
                };
                let pps = 1e9 / ns;
                let gbps = pps * size as f64 / 1e9;
                println!("{name:<28} {op:<5} {size:>6} {ns:>10.1} {pps:>12.0} {gbps:>8.3}");
            }
        }
    }
    println!();
    for ours_name in ["AES-128-GCM-16", "AES-128-GCM-16-direct"] {
        println!("{ours_name} vs raw ring (same buffers, same run):");
        for op in ["seal", "open"] {
            for size in PAYLOAD_SIZES {
                let ours = median_ns(&samples, &format!("{ours_name}/{op}/{size}"));
                let raw = median_ns(&samples, &format!("raw-ring-AES-128-GCM/{op}/{size}"));
                if let (Some(ours), Some(raw)) = (ours, raw) {
                    println!(
                        "  {op:<5} {size:>5} B: ours {ours:>8.1} ns, ring {raw:>8.1} ns, overhead {:>+6.1} %",
                        (ours / raw - 1.0) * 100.0
                    );
                }
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(SAMPLE_SIZE)
        .configure_from_args();
    // Raw ring runs right beside our AES-128-GCM, so both see the same machine state.
    let suites = suites().len();
    bench_raw_ring(&mut criterion);
    bench_direct_gcm(&mut criterion);
    bench_suites(&mut criterion, 0..1);
    bench_suites(&mut criterion, 1..suites);
    criterion.final_summary();
    // `cargo bench` passes --bench; under `cargo test` each routine runs once to prove it
    // works, and a table of single-run timings would only mislead.
    if std::env::args().any(|a| a == "--bench") {
        print_summary();
    }
}
