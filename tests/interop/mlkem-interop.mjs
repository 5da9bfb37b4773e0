// ML-KEM interop between BelizeMesh and two independent implementations: OpenSSL 3.5 (inside Node 26's
// node:crypto) and @noble/post-quantum. Called by tests/BelizeMesh.Quantum.Tests/MLKemInteropTests.cs.
//
// stdin: {"cases": [{set, seed, ek, dk, c, k, m, peerSeed, peerC}]} (hex byte strings) where
//   seed/ek/dk      a BelizeMesh key pair (seed = d||z),
//   c/k             a BelizeMesh encapsulation to ek,
//   m               randomness for noble's deterministic encapsulation to ek,
//   peerSeed/peerC  a seed the peers expand themselves, and BelizeMesh's encapsulation to the ek it derives from it.
// stdout: one JSON object per case with what each peer computed (hex); the C# test compares.
import crypto from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';

const noble = { 'ML-KEM-512': ml_kem512, 'ML-KEM-768': ml_kem768, 'ML-KEM-1024': ml_kem1024 };
const hex = (b) => Buffer.from(b).toString('hex').toUpperCase();
const bytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const t of JSON.parse(input).cases) {
  const kem = noble[t.set];
  const type = t.set.toLowerCase();
  const seed = bytes(t.seed), ek = bytes(t.ek), dk = bytes(t.dk), c = bytes(t.c), m = bytes(t.m);
  const peerSeed = bytes(t.peerSeed), peerC = bytes(t.peerC);

  // @noble/post-quantum: same keys from the seed, decapsulates ours, encapsulates to ours.
  const nKeys = kem.keygen(seed);
  const nEnc = kem.encapsulate(ek, m);
  const nPeer = kem.keygen(peerSeed);
  const nobleResult = {
    ek: hex(nKeys.publicKey),
    dk: hex(nKeys.secretKey),
    decapsulated: hex(kem.decapsulate(c, dk)),
    c: hex(nEnc.cipherText),
    k: hex(nEnc.sharedSecret),
    peerEk: hex(nPeer.publicKey),
    peerDk: hex(nPeer.secretKey),
    peerDecapsulated: hex(kem.decapsulate(peerC, nPeer.secretKey)),
  };

  // OpenSSL 3.5: our raw keys imported, a fresh key pair of its own, and both directions of encapsulation.
  const oPriv = crypto.createPrivateKey({ key: Buffer.from(seed), format: 'raw-seed', asymmetricKeyType: type });
  const oPub = crypto.createPublicKey({ key: Buffer.from(ek), format: 'raw-public', asymmetricKeyType: type });
  const oEnc = crypto.encapsulate(oPub);
  const oPeer = crypto.createPrivateKey({ key: Buffer.from(peerSeed), format: 'raw-seed', asymmetricKeyType: type });
  const oGen = crypto.generateKeyPairSync(type);
  const oGenEnc = crypto.encapsulate(oGen.publicKey);
  const opensslResult = {
    ekFromSeed: hex(crypto.createPublicKey(oPriv).export({ format: 'raw-public' })),
    spki: hex(oPub.export({ format: 'der', type: 'spki' })),
    decapsulated: hex(crypto.decapsulate(oPriv, Buffer.from(c))),
    c: hex(oEnc.ciphertext),
    k: hex(oEnc.sharedKey),
    peerEk: hex(crypto.createPublicKey(oPeer).export({ format: 'raw-public' })),
    peerDecapsulated: hex(crypto.decapsulate(oPeer, Buffer.from(peerC))),
    generatedSeed: hex(oGen.privateKey.export({ format: 'raw-seed' })),
    generatedEk: hex(oGen.publicKey.export({ format: 'raw-public' })),
    generatedC: hex(oGenEnc.ciphertext),
    generatedK: hex(oGenEnc.sharedKey),
  };

  // A modified ciphertext: both must return the implicit-rejection key J(z||c'), as BelizeMesh does.
  const tampered = Buffer.from(c);
  tampered[0] ^= 1;
  out.push({
    set: t.set,
    noble: nobleResult,
    openssl: opensslResult,
    tamperedNoble: hex(kem.decapsulate(Uint8Array.from(tampered), dk)),
    tamperedOpenssl: hex(crypto.decapsulate(oPriv, tampered)),
  });
}
process.stdout.write(JSON.stringify(out));
