'use strict';
// The addon (binding.js) as the facade uses it: core's log to stderr from the moment the facade
// loads. The package's `dapr-rs` command (bin/dapr-rs.js) loads binding.js without this, since the
// command installs its own log.

const native = require('../binding.js');

native.logToStderr();

module.exports = native;
