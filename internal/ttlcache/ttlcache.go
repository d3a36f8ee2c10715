// Package ttlcache is the one cache of the tree: size-bounded, and every
// entry expires a fixed time after it was added, so that what a process
// remembers is bounded by its configuration, never by the number of keys
// (identities, credentials, pools) it has seen. Standard library only, so
// that syncapi can use it.
package ttlcache

import (
	"container/list"
	"sync"
	"time"
)

// Config configures New.
type Config struct {
	// Size is the most entries the cache holds; adding one more evicts the
	// oldest. Required (> 0).
	Size int
	// TTL is how long an entry lives after Add. Required (> 0).
	TTL time.Duration
	// Now is the clock; nil: time.Now. Tests inject one to move past TTL
	// without sleeping.
	Now func() time.Time
}

// Cache maps keys to values. Entries leave in the order they were added
// (all share one TTL, so that is also the order they expire in): when the
// cache is full, and once expired, when the next Get or Add sweeps them.
// It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // of *entry[K, V], oldest at the front
	items map[K]*list.Element
	high  int // most entries items held since it was last rebuilt
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

// New returns an empty cache. It panics on a Config without Size or TTL, a
// programming error.
func New[K comparable, V any](c Config) *Cache[K, V] {
	if c.Size <= 0 || c.TTL <= 0 {
		panic("ttlcache: Size and TTL must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Cache[K, V]{size: c.Size, ttl: c.TTL, now: c.Now, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value of k if it is cached and not expired.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if el, ok := c.items[k]; ok {
		if e := el.Value.(*entry[K, V]); now.Before(e.expires) {
			return e.value, true
		}
	}
	var zero V
	return zero, false
}

// Add caches v under k for TTL, replacing an earlier value of k.
func (c *Cache[K, V]) Add(k K, v V) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if el, ok := c.items[k]; ok {
		c.order.Remove(el)
	}
	for c.order.Len() >= c.size {
		c.removeElement(c.order.Front())
	}
	c.items[k] = c.order.PushBack(&entry[K, V]{key: k, value: v, expires: now.Add(c.ttl)})
	c.high = max(c.high, len(c.items))
}

// Remove forgets k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.removeElement(el)
		c.shrink()
	}
}

// Len returns the number of entries held, expired ones not yet swept
// included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// sweep drops expired entries from the front. A clock that went back leaves
// entries in place until it passes them again.
func (c *Cache[K, V]) sweep(now time.Time) {
	for el := c.order.Front(); el != nil; el = c.order.Front() {
		if now.Before(el.Value.(*entry[K, V]).expires) {
			break
		}
		c.removeElement(el)
	}
	c.shrink()
}

// shrink rebuilds the map once it holds a quarter of its high-water mark: a
// Go map keeps the memory of its largest size, so a cache that emptied
// after a burst would otherwise hold on to it. Amortised O(1).
func (c *Cache[K, V]) shrink() {
	if c.high < 64 || len(c.items)*4 > c.high {
		return
	}
	m := make(map[K]*list.Element, len(c.items))
	for k, el := range c.items {
		m[k] = el
	}
	c.items, c.high = m, len(m)
}

func (c *Cache[K, V]) removeElement(el *list.Element) {
	c.order.Remove(el)
	delete(c.items, el.Value.(*entry[K, V]).key)
}
