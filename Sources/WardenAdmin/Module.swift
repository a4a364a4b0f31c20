// Placeholder until this module is written; delete when the first real file lands.
