package client

// Queued is how many batched attempts of c wait in its queues, for tests
// that must wait until calls are queued rather than sleep.
func Queued(c *Client) int {
	c.batch.mu.Lock()
	defer c.batch.mu.Unlock()
	n := 0
	for _, l := range c.batch.lanes {
		if l != nil {
			n += len(l.queue)
		}
	}
	return n
}
