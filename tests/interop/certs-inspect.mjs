// Reads {"ca": PEM, "certs": [PEM...], "keys": [PEM...]} on stdin and reports, as JSON on stdout, what OpenSSL 3.5
// (Node's crypto) and @noble/post-quantum make of them: each certificate's subject, SAN, and whether the CA's
// ML-DSA-87 signature verifies (OpenSSL: X509Certificate.verify; noble: ml_dsa87.verify over the TBS bytes);
// each PKCS#8 key's type and the raw public key OpenSSL derives from it.
import crypto from 'node:crypto';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

// Minimal DER walker: enough to split Certificate ::= SEQUENCE { tbs, algorithm, BIT STRING }.
function tlv(buf, offset) {
  const tag = buf[offset];
  let len = buf[offset + 1];
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len * 256) + buf[offset + 2 + i];
    header += n;
  }
  return { tag, start: offset, contentStart: offset + header, end: offset + header + len };
}

function splitCertificate(der) {
  const outer = tlv(der, 0);
  const tbs = tlv(der, outer.contentStart);
  const alg = tlv(der, tbs.end);
  const sig = tlv(der, alg.end);
  return { tbs: der.subarray(tbs.start, tbs.end), signature: der.subarray(sig.contentStart + 1, sig.end) };
}

function rawPublicKey(keyObject) {
  return Buffer.from(keyObject.export({ format: 'jwk' }).pub, 'base64url');
}

const ca = new crypto.X509Certificate(input.ca);
const caRaw = rawPublicKey(ca.publicKey);
const certs = (input.certs ?? []).map((pem) => {
  try {
    const cert = new crypto.X509Certificate(pem);
    const { tbs, signature } = splitCertificate(cert.raw);
    let nobleVerified;
    try { nobleVerified = ml_dsa87.verify(signature, tbs, caRaw); } catch (e) { nobleVerified = false; }
    return {
      parsed: true,
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      subjectAltName: cert.subjectAltName ?? null,
      ca: cert.ca,
      keyType: cert.publicKey.asymmetricKeyType,
      publicKey: rawPublicKey(cert.publicKey).toString('base64'),
      openSslVerified: cert.verify(ca.publicKey),
      nobleVerified,
    };
  } catch (e) {
    return { parsed: false, error: String(e.message ?? e) };
  }
});

const keys = (input.keys ?? []).map((pem) => {
  try {
    const key = crypto.createPrivateKey(pem);
    const publicKey = crypto.createPublicKey(key);
    return { imported: true, type: key.asymmetricKeyType, publicKey: rawPublicKey(publicKey).toString('base64') };
  } catch (e) {
    return { imported: false, error: String(e.message ?? e) };
  }
});

process.stdout.write(JSON.stringify({ caKeyType: ca.publicKey.asymmetricKeyType, certs, keys }));
