global using MLDsaAlgorithm = BelizeMesh.Quantum.MLDsaAlgorithm;
global using MLDsaKey = BelizeMesh.Quantum.MLDsaKey;
global using MLKemAlgorithm = BelizeMesh.Quantum.MLKemAlgorithm;
global using MLKemKey = BelizeMesh.Quantum.MLKemKey;

// The suite checks Unix file modes (0600 keys); it runs on Linux (CI) and macOS.
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
