//! `config`: read-only values from the plugin's manifest, overridden by the host config.

use crate::runtime::bindings::agent::djinn::plugin::config::Host;
use crate::runtime::state::HostState;

impl Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.plugin.config.get(&key).cloned()
    }
}
