using System.Diagnostics;
using System.Security.Cryptography;

var rng = new Random(1);
int bad = 0;
for (int trial = 0; trial < 3000; trial++)
{
    byte[] key = new byte[32]; rng.NextBytes(key);
    byte[] nonce = new byte[12]; rng.NextBytes(nonce);
    int len = trial < 1200 ? trial % 600 : rng.Next(0, 17000);
    int alen = rng.Next(0, 50);
    byte[] pt = new byte[len]; rng.NextBytes(pt);
    byte[] aad = new byte[alen]; rng.NextBytes(aad);
    byte[] c1 = new byte[len], t1 = new byte[16], c2 = new byte[len], t2 = new byte[16];
    using var ref_ = new AesGcm(key, 16);
    ref_.Encrypt(nonce, pt, c1, t1, aad);
    using var mine = new AesGcmIntrinsics(key);
    mine.Encrypt(nonce, pt, c2, t2, aad);
    if (!c1.AsSpan().SequenceEqual(c2) || !t1.AsSpan().SequenceEqual(t2)) { if (bad++ < 5) Console.WriteLine($"mismatch len={len} alen={alen} ct={c1.AsSpan().SequenceEqual(c2)}"); continue; }
    byte[] back = new byte[len];
    mine.Decrypt(nonce, c1, t1, back, aad);
    if (!back.AsSpan().SequenceEqual(pt)) { bad++; Console.WriteLine("decrypt mismatch"); }
    if (len > 0) { c1[rng.Next(len)] ^= 1; try { mine.Decrypt(nonce, c1, t1, back, aad); bad++; Console.WriteLine("tamper accepted"); } catch (AuthenticationTagMismatchException) { } }
}
Console.WriteLine($"correctness: {bad} bad");
if (bad > 0) return;

foreach (int size in new[] { 64, 300, 1400, 2048, 4096, 8192, 16384 })
{
    byte[] key = new byte[32]; byte[] nonce = new byte[12]; byte[] aad = new byte[5];
    byte[] pt = new byte[size], ct = new byte[size], tag = new byte[16];
    using var a = new AesGcm(key, 16);
    using var b = new AesGcmIntrinsics(key);
    for (int round = 0; round < 5; round++)
    {
        int iters = 2_000_000 / (1 + size / 256);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < iters; i++) { a.Encrypt(nonce, pt, ct, tag, aad); a.Decrypt(nonce, ct, tag, pt, aad); }
        double ta = sw.Elapsed.TotalNanoseconds / iters / 2;
        sw.Restart();
        for (int i = 0; i < iters; i++) { b.Encrypt(nonce, pt, ct, tag, aad); b.Decrypt(nonce, ct, tag, pt, aad); }
        double tb = sw.Elapsed.TotalNanoseconds / iters / 2;
        Console.WriteLine($"size {size,6}: .NET AesGcm {ta,8:0} ns/op   managed AES-NI {tb,8:0} ns/op   ratio {tb / ta:0.00}");
    }
}
