// Times ML-KEM keygen/encaps/decaps and ML-DSA keygen/sign/verify in OpenSSL 3.5 (Node 26's node:crypto) and
// @noble/post-quantum, single-threaded, the same way perf/BelizeMesh.Perf's `crypto` command times BelizeMesh:
// warm up, then samples of a batch of operations each; prints JSON {rows:[{impl, alg, op, median, p10, p90, min, samples}]}
// with times in microseconds per operation. Usage: node pqc-bench.mjs [--quick]
import crypto from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';

const quick = process.argv.includes('--quick');
const samples = quick ? 15 : 61;
const targetSampleNs = quick ? 1_000_000n : 3_000_000n;
const rows = [];

function measure(impl, alg, op, fn) {
  // Calibrate the batch so one sample lasts about targetSampleNs, after a warm-up of the same length.
  let batch = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    const dt = process.hrtime.bigint() - t0;
    if (dt >= targetSampleNs || batch >= 1 << 16) break;
    batch *= 2;
  }
  const times = [];
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * (times.length - 1) + 0.5))];
  rows.push({ impl, alg, op, median: q(0.5), p10: q(0.1), p90: q(0.9), min: times[0], samples });
}

const msg = new Uint8Array(64).fill(7);
for (const [name, noble] of [['ML-KEM-512', ml_kem512], ['ML-KEM-768', ml_kem768], ['ML-KEM-1024', ml_kem1024]]) {
  const type = name.toLowerCase();
  measure('OpenSSL 3.5 (Node 26)', name, 'keygen', () => crypto.generateKeyPairSync(type));
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type);
  let enc = crypto.encapsulate(publicKey);
  measure('OpenSSL 3.5 (Node 26)', name, 'encaps', () => { enc = crypto.encapsulate(publicKey); });
  measure('OpenSSL 3.5 (Node 26)', name, 'decaps', () => crypto.decapsulate(privateKey, enc.ciphertext));

  const seed = crypto.randomBytes(64);
  measure('@noble/post-quantum', name, 'keygen', () => noble.keygen(seed));
  const keys = noble.keygen(seed);
  let nEnc = noble.encapsulate(keys.publicKey);
  measure('@noble/post-quantum', name, 'encaps', () => { nEnc = noble.encapsulate(keys.publicKey); });
  measure('@noble/post-quantum', name, 'decaps', () => noble.decapsulate(nEnc.cipherText, keys.secretKey));
}

for (const [name, noble] of [['ML-DSA-44', ml_dsa44], ['ML-DSA-65', ml_dsa65], ['ML-DSA-87', ml_dsa87]]) {
  const type = name.toLowerCase();
  measure('OpenSSL 3.5 (Node 26)', name, 'keygen', () => crypto.generateKeyPairSync(type));
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type);
  let sig = crypto.sign(null, msg, privateKey);
  measure('OpenSSL 3.5 (Node 26)', name, 'sign', () => { sig = crypto.sign(null, msg, privateKey); });
  measure('OpenSSL 3.5 (Node 26)', name, 'verify', () => crypto.verify(null, msg, publicKey, sig));

  const seed = crypto.randomBytes(32);
  measure('@noble/post-quantum', name, 'keygen', () => noble.keygen(seed));
  const keys = noble.keygen(seed);
  let nSig = noble.sign(msg, keys.secretKey);
  measure('@noble/post-quantum', name, 'sign', () => { nSig = noble.sign(msg, keys.secretKey); });
  measure('@noble/post-quantum', name, 'verify', () => noble.verify(nSig, msg, keys.publicKey));
}

process.stdout.write(JSON.stringify({ rows }));
