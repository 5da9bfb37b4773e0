// Builds a BelizeMesh-shaped PKI entirely with OpenSSL 3.5 (Node's crypto): an ML-DSA-87 root and an ML-KEM-1024
// service certificate, DER-encoded here and signed with crypto.sign. Reads {"spiffe": URI, "notBefore": ISO,
// "notAfter": ISO} on stdin; writes {"caCert", "caKey", "leafCert", "leafKey"} (PEM) on stdout.
import crypto from 'node:crypto';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  while (n > 0) { bytes.unshift(n & 0xff); n = Math.floor(n / 256); }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag, ...parts) => { const body = Buffer.concat(parts); return Buffer.concat([Buffer.from([tag]), length(body.length), body]); };
const seq = (...parts) => der(0x30, ...parts);
const set = (...parts) => der(0x31, ...parts);
function oid(text) {
  const arcs = text.split('.').map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) { chunk.unshift(0x80 | (v & 0x7f)); v = Math.floor(v / 128); }
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}
const utf8 = (s) => der(0x0c, Buffer.from(s, 'utf8'));
const octets = (b) => der(0x04, b);
const bits = (b) => der(0x03, Buffer.from([0]), b);
const bool = (v) => der(0x01, Buffer.from([v ? 0xff : 0]));
function time(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return der(0x17, Buffer.from(s, 'ascii'));
}
const name = (cn) => seq(set(seq(oid('2.5.4.10'), utf8('OpenSSL Interop'))), set(seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id, critical, value) => critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
const raw = (keyObject) => Buffer.from(keyObject.export({ format: 'jwk' }).pub, 'base64url');
const serial = () => { const b = crypto.randomBytes(16); b[0] = (b[0] & 0x3f) | 0x40; return der(0x02, b); };
const mldsa87 = seq(oid('2.16.840.1.101.3.4.3.19'));

const caKeys = crypto.generateKeyPairSync('ml-dsa-87');
const leafKeys = crypto.generateKeyPairSync('ml-kem-1024');
const caSpki = caKeys.publicKey.export({ type: 'spki', format: 'der' });
const leafSpki = leafKeys.publicKey.export({ type: 'spki', format: 'der' });
const caKeyId = crypto.createHash('sha1').update(raw(caKeys.publicKey)).digest();
const leafKeyId = crypto.createHash('sha1').update(raw(leafKeys.publicKey)).digest();

function certificate(tbs) {
  const signature = crypto.sign(null, tbs, caKeys.privateKey);
  const pem = `-----BEGIN CERTIFICATE-----\n${seq(tbs, mldsa87, bits(signature)).toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  return pem;
}

const caName = name('OpenSSL Interop Root');
const rootTbs = seq(
  der(0xa0, der(0x02, Buffer.from([2]))), serial(), mldsa87, caName,
  seq(time(input.notBefore), time(input.notAfter)), caName, caSpki,
  der(0xa3, seq(
    extension('2.5.29.19', true, seq(bool(true))),
    extension('2.5.29.15', true, der(0x03, Buffer.from([1, 0x06]))),   // keyCertSign | cRLSign
    extension('2.5.29.14', false, octets(caKeyId)))));

const leafTbs = seq(
  der(0xa0, der(0x02, Buffer.from([2]))), serial(), mldsa87, caName,
  seq(time(input.notBefore), time(input.notAfter)), name('interop.default.svc'), leafSpki,
  der(0xa3, seq(
    extension('2.5.29.15', true, der(0x03, Buffer.from([5, 0x20]))),   // keyEncipherment
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))),
    extension('2.5.29.14', false, octets(leafKeyId)),
    extension('2.5.29.35', false, seq(der(0x80, caKeyId))),
    extension('2.5.29.17', false, seq(der(0x86, Buffer.from(input.spiffe, 'ascii')), der(0x82, Buffer.from('interop.default.svc', 'ascii')))))));

process.stdout.write(JSON.stringify({
  caCert: certificate(rootTbs),
  caKey: caKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  leafCert: certificate(leafTbs),
  leafKey: leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
}));
