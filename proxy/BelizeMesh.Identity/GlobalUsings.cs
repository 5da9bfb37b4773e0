// Our ML-KEM/ML-DSA types (MLKemParameterSet, MLDsaParameterSet, MLKemKey, MLDsaKey) do not share a name with .NET 10's
// System.Security.Cryptography.MLKem/MLDsa/MLKemAlgorithm/MLDsaAlgorithm, so both namespaces can be imported together.
global using BelizeMesh.Quantum;

// The names the components agree on (Secret keys, file names, the SPIFFE scheme, the default trust domain).
global using BelizeMesh.Configuration;
