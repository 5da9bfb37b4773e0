global using BelizeMesh.Quantum;

// The suite checks Unix file modes (0600 keys); it runs on Linux (CI) and macOS.
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
