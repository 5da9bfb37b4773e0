// Builds a BelizeMesh-shaped PKI entirely with OpenSSL 3.5 (Node's crypto): an ML-DSA-87 root and an ML-KEM-1024
// service certificate, DER-encoded here and signed with crypto.sign. Reads {"spiffe": URI, "notBefore": ISO,
// "notAfter": ISO} on stdin; writes {"caCert", "caKey", "leafCert", "leafKey"} (PEM) on stdout.
import crypto from 'node:crypto';
import { der, seq, set, oid, utf8, octets, bits, bool, time, name, extension, raw, serial, mldsa87 } from './der.mjs';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));



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
