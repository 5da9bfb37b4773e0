// ML-DSA interop checks against OpenSSL 3.5 (Node 26 crypto) and @noble/post-quantum 0.7.1.
// stdin: {"cases":[{alg, seed, pk, sk, msg, ctx, rnd, sigHedged, sigDet, sigPreHash}], "bulk":[{alg, seed, msg, ctx}]} (hex);
// stdout: one JSON object with per-case results. Used by tests/BelizeMesh.Quantum.Tests/MLDsaInteropTests.cs.
import crypto from 'node:crypto';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { sha512 } from '@noble/hashes/sha2.js';

const noble = { 'ML-DSA-44': ml_dsa44, 'ML-DSA-65': ml_dsa65, 'ML-DSA-87': ml_dsa87 };
const hex = (b) => Buffer.from(b).toString('hex').toUpperCase();
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const b64u = (b) => Buffer.from(b).toString('base64url');

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));

const results = [];
for (const c of input.cases) {
  const alg = c.alg;
  const seed = bytes(c.seed), pk = bytes(c.pk), sk = bytes(c.sk), msg = bytes(c.msg), ctx = bytes(c.ctx);
  const r = { alg };

  // OpenSSL: keys from our seed (JWK "AKP": priv = seed, pub = raw pk), verify ours, sign for us.
  const osslPriv = crypto.createPrivateKey({ key: { kty: 'AKP', alg, priv: b64u(seed), pub: b64u(pk) }, format: 'jwk' });
  const osslPub = crypto.createPublicKey({ key: { kty: 'AKP', alg, pub: b64u(pk) }, format: 'jwk' });
  r.opensslPkFromSeed = hex(Buffer.from(crypto.createPublicKey(osslPriv).export({ format: 'jwk' }).pub, 'base64url'));
  r.opensslVerifiesHedged = crypto.verify(null, msg, { key: osslPub, context: ctx }, bytes(c.sigHedged));
  r.opensslVerifiesDeterministic = crypto.verify(null, msg, { key: osslPub, context: ctx }, bytes(c.sigDet));
  const tampered = bytes(c.sigHedged); tampered[10] ^= 1;
  r.opensslVerifiesTampered = crypto.verify(null, msg, { key: osslPub, context: ctx }, tampered);
  r.opensslSig = hex(crypto.sign(null, msg, { key: osslPriv, context: ctx }));

  // OpenSSL: a key it generated itself, for us to import from its seed.
  const fresh = crypto.generateKeyPairSync(alg.toLowerCase());
  const freshJwk = fresh.privateKey.export({ format: 'jwk' });
  r.opensslFreshSeed = hex(Buffer.from(freshJwk.priv, 'base64url'));
  r.opensslFreshPk = hex(Buffer.from(freshJwk.pub, 'base64url'));
  r.opensslFreshSig = hex(crypto.sign(null, msg, { key: fresh.privateKey, context: ctx }));

  // noble: same keys from the seed, byte-exact deterministic and rnd signatures, hedged signature, HashML-DSA-SHA512.
  const n = noble[alg];
  const keys = n.keygen(seed);
  r.noblePk = hex(keys.publicKey);
  r.nobleSk = hex(keys.secretKey);
  r.nobleVerifiesHedged = n.verify(bytes(c.sigHedged), msg, pk, { context: ctx });
  r.nobleVerifiesTampered = n.verify(tampered, msg, pk, { context: ctx });
  r.nobleSigDet = hex(n.sign(msg, sk, { context: ctx, extraEntropy: false }));
  r.nobleSigRnd = hex(n.sign(msg, sk, { context: ctx, extraEntropy: bytes(c.rnd) }));
  r.nobleSigHedged = hex(n.sign(msg, sk, { context: ctx }));
  const pre = n.prehash(sha512);
  r.nobleVerifiesPreHash = pre.verify(bytes(c.sigPreHash), msg, pk, { context: ctx });
  r.noblePreHashSig = hex(pre.sign(msg, sk, { context: ctx }));
  results.push(r);
}

// Bulk: deterministic noble signatures over many (seed, message, context) triples, compared byte for byte by the caller.
const bulk = [];
for (const b of input.bulk ?? []) {
  const n = noble[b.alg];
  const keys = n.keygen(bytes(b.seed));
  bulk.push(hex(n.sign(bytes(b.msg), keys.secretKey, { context: bytes(b.ctx), extraEntropy: false })));
}

process.stdout.write(JSON.stringify({ results, bulk }));
