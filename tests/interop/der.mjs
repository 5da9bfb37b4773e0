// DER building blocks for the interop scripts that make X.509 certificates with Node's crypto (OpenSSL 3.5).
import crypto from 'node:crypto';

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

export { der, seq, set, oid, utf8, octets, bits, bool, time, name, extension, raw, serial, mldsa87 };
