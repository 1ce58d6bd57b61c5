package inventory

// QueuedSells reports how many one-item sells of goodsID wait for the batch in flight.
func (s *Service) QueuedSells(goodsID int64) int { return s.coalescer.queued(goodsID) }
