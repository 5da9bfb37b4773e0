// Full TLS 1.3 handshakes per second in one Node 26 process (OpenSSL 3.5.8 inside), client and server on loopback,
// mutual authentication with the ECDSA P-256 certificates given on stdin as PEM {ca, cert, key, clientCert,
// clientKey}, no resumption (the client never offers a session), TLS_AES_256_GCM_SHA384, one key-exchange group per
// row: classical P-256 and X25519, and OpenSSL 3.5's post-quantum hybrids. Writes {"rows": [...]} on stdout.
// Usage: node tls-bench.mjs [--quick] < certs.json
import tls from 'node:tls';

const quick = process.argv.includes('--quick');
const pem = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

const groups = ['P-256', 'X25519', 'X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024'];
const count = quick ? 30 : 300;
const rows = [];

for (const group of groups) {
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
  rows.push({ group, negotiated, count, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 / count });
}

process.stdout.write(JSON.stringify({ openssl: process.versions.openssl, node: process.version, rows }) + '\n');
