package sqlstore

// StepInserts reports how many INSERT statements Record has issued.
func StepInserts(s *Store) int64 { return s.steps.inserts.Load() }

// OwnerInserts reports how many INSERT statements ClaimOwner has issued.
func OwnerInserts(s *Store) int64 { return s.owners.inserts.Load() }
