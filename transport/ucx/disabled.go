//go:build !ucx

package ucx

// Built reports whether this binary has the ucx transport.
const Built = false

// Open reports ErrNotBuilt: this binary was built without the ucx tag.
func Open(Config) (Link, error) { return nil, ErrNotBuilt }

// Resources reports ErrNotBuilt: this binary was built without the ucx tag.
func Resources() ([]Resource, error) { return nil, ErrNotBuilt }
