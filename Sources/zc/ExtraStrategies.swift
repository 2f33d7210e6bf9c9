// Strategies of your own that the `zc` binary should know, by name, in addition to the
// built-ins: add an instance here. zc registers them (TransferStrategies.register) before
// it parses its arguments, so `zc strategies` lists them, `zc probe` tries them and
// `zc copy --strategy NAME` / `zc send --strategy NAME` use them.
//
// (Swift has no plugin ABI for a statically linked module: a strategy must be compiled into
// the process that uses it. In your own program, call TransferStrategies.register directly.)

import ZeroCopy

/// Registered by `ZC.main()` at start-up.
let extraStrategies: [any TransferStrategy] = []
