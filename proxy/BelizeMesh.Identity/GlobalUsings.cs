// System.Security.Cryptography (.NET 10) has its own MLKem/MLDsa types, unsupported on OpenSSL 3.0; ours win.
global using MLDsaAlgorithm = BelizeMesh.Quantum.MLDsaAlgorithm;
global using MLDsaKey = BelizeMesh.Quantum.MLDsaKey;
global using MLKemAlgorithm = BelizeMesh.Quantum.MLKemAlgorithm;
global using MLKemKey = BelizeMesh.Quantum.MLKemKey;
