// Full TLS 1.3 handshakes per second in one Node 26 process (OpenSSL 3.5.8 inside), client and server on loopback,
// mutual authentication with the ECDSA P-256 certificates given on stdin as PEM {ca, cert, key, clientCert,
// clientKey}, no resumption (the client never offers a session), TLS_AES_256_GCM_SHA384, one key-exchange group per
// row: classical P-256 and X25519, and OpenSSL 3.5's post-quantum hybrids; then the hybrids again with ML-DSA-87
// certificates (an ML-DSA-87 CA and leaves made here, so TLS signs and verifies with ML-DSA-87 in every handshake).
// Writes {"rows": [...]} on stdout.
// Usage: node tls-bench.mjs [--quick] < certs.json
import crypto from 'node:crypto';
import tls from 'node:tls';
import { der, seq, oid, octets, bits, bool, time, name, extension, raw, serial, mldsa87 } from './der.mjs';

const quick = process.argv.includes('--quick');
const pem = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

// An ML-DSA-87 PKI: CA, server (backend.bench, serverAuth) and client (clientAuth) leaves, all ML-DSA-87 keys.
function mldsaPki() {
  const now = Date.now();
  const validity = seq(time(new Date(now - 3600_000).toISOString()), time(new Date(now + 86400_000).toISOString()));
  const ca = crypto.generateKeyPairSync('ml-dsa-87');
  const caId = crypto.createHash('sha1').update(raw(ca.publicKey)).digest();
  const caName = name('TLS bench ML-DSA-87 CA');
  const pemOf = (tbs) => `-----BEGIN CERTIFICATE-----\n${seq(tbs, mldsa87, bits(crypto.sign(null, tbs, ca.privateKey))).toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  const root = seq(der(0xa0, der(0x02, Buffer.from([2]))), serial(), mldsa87, caName, validity, caName,
    ca.publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(extension('2.5.29.19', true, seq(bool(true))), extension('2.5.29.15', true, der(0x03, Buffer.from([1, 0x06]))),
      extension('2.5.29.14', false, octets(caId)))));
  const leaf = (cn, usage) => {
    const keys = crypto.generateKeyPairSync('ml-dsa-87');
    const tbs = seq(der(0xa0, der(0x02, Buffer.from([2]))), serial(), mldsa87, caName, validity, name(cn),
      keys.publicKey.export({ type: 'spki', format: 'der' }),
      der(0xa3, seq(extension('2.5.29.15', true, der(0x03, Buffer.from([7, 0x80]))),   // digitalSignature
        extension('2.5.29.37', false, seq(oid(usage))), extension('2.5.29.35', false, seq(der(0x80, caId))),
        extension('2.5.29.17', false, seq(der(0x82, Buffer.from(cn, 'ascii')))))));
    return { cert: pemOf(tbs), key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) };
  };
  const server = leaf('backend.bench', '1.3.6.1.5.5.7.3.1');
  const client = leaf('frontend.bench', '1.3.6.1.5.5.7.3.2');
  return { ca: pemOf(root), cert: server.cert, key: server.key, clientCert: client.cert, clientKey: client.key };
}

const runs = [
  ...['P-256', 'X25519', 'X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024'].map((group) => ({ group, certs: 'ECDSA P-256', pem })),
  ...['X25519MLKEM768', 'SecP384r1MLKEM1024'].map((group) => ({ group, certs: 'ML-DSA-87' })),
];
const mldsa = mldsaPki();
const count = quick ? 30 : 300;
const rows = [];

for (const { group, certs, pem: given } of runs) {
  const pem = given ?? mldsa;
  const server = tls.createServer({
    key: pem.key, cert: pem.cert, ca: pem.ca, requestCert: true, rejectUnauthorized: true,
    minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_256_GCM_SHA384', ecdhCurve: group,
  }, (socket) => socket.end());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  let negotiated = null;
  const one = () => new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port, servername: 'backend.bench', ca: pem.ca, cert: pem.clientCert, key: pem.clientKey,
      minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_256_GCM_SHA384', ecdhCurve: group,
    }, () => {
      negotiated ??= socket.getEphemeralKeyInfo()?.name ?? null;
      socket.end();
    });
    socket.on('error', reject);
    socket.on('close', resolve);
    socket.resume();
  });
  for (let i = 0; i < Math.max(5, count / 10); i++) await one();   // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await one();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6 / count;
  const cpu = process.cpuUsage(cpu0);
  server.close();
  rows.push({ group, certs, negotiated, count, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 / count });
}

process.stdout.write(JSON.stringify({ openssl: process.versions.openssl, node: process.version, rows }) + '\n');
