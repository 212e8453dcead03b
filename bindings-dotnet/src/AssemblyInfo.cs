// The tests reach the bridge's internals (the request encoder) directly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("DaprRs.Tests")]
