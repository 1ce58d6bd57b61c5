package sqlstore

// StepInserts reports how many INSERT statements Record has issued.
func StepInserts(s *Store) int64 { return s.steps.inserts.Load() }
