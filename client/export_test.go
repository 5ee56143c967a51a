package client

// Queued is how many batched attempts of c wait in its queue, for tests that
// must wait until calls are queued rather than sleep.
func Queued(c *Client) int {
	c.batch.mu.Lock()
	defer c.batch.mu.Unlock()
	return len(c.batch.queue)
}
