package comm

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// Element is the set of element types the collectives move and reduce:
// the numeric types, and the value-index pairs that MinLoc and MaxLoc
// reduce.
type Element interface {
	Numeric |
		ValueIndex[float64] | ValueIndex[float32] |
		ValueIndex[int] | ValueIndex[int64] | ValueIndex[int32]
}

// ValueIndex is a value with the index (usually a rank) it came from, the
// element type of MinLoc and MaxLoc, as MPI's MPI_DOUBLE_INT.
type ValueIndex[T Numeric] struct {
	Value T
	Index int
}

// Op is a reduction operator: one of the predefined ones, or one made by
// NewOp.
type Op struct {
	id          uint32
	name        string
	commutative bool
	user        any // func(a, b T) T for a user operator
}

// The predefined operators. Sum, Prod, LAnd and LOr apply to every numeric
// type; Min and Max to the ordered (non-complex) ones; BAnd, BOr and BXor
// to the integers; MinLoc and MaxLoc to ValueIndex pairs, where ties go to
// the smaller Index, as in MPI. LAnd and LOr treat non-zero as true and
// yield 1 or 0.
var (
	Sum    = Op{id: 1, name: "sum", commutative: true}
	Prod   = Op{id: 2, name: "prod", commutative: true}
	Min    = Op{id: 3, name: "min", commutative: true}
	Max    = Op{id: 4, name: "max", commutative: true}
	LAnd   = Op{id: 5, name: "land", commutative: true}
	LOr    = Op{id: 6, name: "lor", commutative: true}
	BAnd   = Op{id: 7, name: "band", commutative: true}
	BOr    = Op{id: 8, name: "bor", commutative: true}
	BXor   = Op{id: 9, name: "bxor", commutative: true}
	MinLoc = Op{id: 10, name: "minloc", commutative: true}
	MaxLoc = Op{id: 11, name: "maxloc", commutative: true}
)

var nextOpID atomic.Uint32

func init() { nextOpID.Store(1000) }

// NewOp makes a user-defined operator from fn, which must be associative:
// fn(a, b) combines an operand from lower ranks (a) with one from higher
// ranks (b). If commutative is false, every algorithm combines operands in
// rank order (x_0 op x_1 op ... op x_{p-1}), as MPI requires; algorithms
// that cannot are not used. The operator applies to slices of T only.
func NewOp[T Element](fn func(a, b T) T, commutative bool) Op {
	id := nextOpID.Add(1)
	return Op{id: id, name: fmt.Sprintf("user op %d (%s)", id-1000, reflect.TypeFor[T]()), commutative: commutative, user: fn}
}

// String names the operator.
func (op Op) String() string {
	if op.name == "" {
		return "invalid op"
	}
	return op.name
}

// Commutative reports whether the operator may combine in any order.
func (op Op) Commutative() bool { return op.commutative }

// collOp resolves op for element type T into the form the algorithms use.
func collOp[T Element](op Op) (coll.Op[T], error) {
	fn, err := opFunc[T](op)
	return coll.Op[T]{Fn: fn, Commutative: op.commutative}, err
}

func opFunc[T Element](op Op) (func(dst, a, b []T), error) {
	t := reflect.TypeFor[T]()
	if op.user != nil {
		f, ok := op.user.(func(a, b T) T)
		if !ok {
			return nil, fmt.Errorf("%w: %s applied to %s elements", ErrArg, op, t)
		}
		return func(dst, a, b []T) {
			for i := range dst {
				dst[i] = f(a[i], b[i])
			}
		}, nil
	}
	if op.id == 0 {
		return nil, fmt.Errorf("%w: zero Op (use comm.Sum, comm.Max, ... or comm.NewOp)", ErrArg)
	}
	var fn func(dst, a, b []T)
	switch t.Kind() {
	case reflect.Int:
		fn = lift[T](intOp[int](op.id))
	case reflect.Int8:
		fn = lift[T](intOp[int8](op.id))
	case reflect.Int16:
		fn = lift[T](intOp[int16](op.id))
	case reflect.Int32:
		fn = lift[T](intOp[int32](op.id))
	case reflect.Int64:
		fn = lift[T](intOp[int64](op.id))
	case reflect.Uint:
		fn = lift[T](intOp[uint](op.id))
	case reflect.Uint8:
		fn = lift[T](intOp[uint8](op.id))
	case reflect.Uint16:
		fn = lift[T](intOp[uint16](op.id))
	case reflect.Uint32:
		fn = lift[T](intOp[uint32](op.id))
	case reflect.Uint64:
		fn = lift[T](intOp[uint64](op.id))
	case reflect.Uintptr:
		fn = lift[T](intOp[uintptr](op.id))
	case reflect.Float32:
		fn = lift[T](floatOp[float32](op.id))
	case reflect.Float64:
		fn = lift[T](floatOp[float64](op.id))
	case reflect.Complex64:
		fn = lift[T](complexOp[complex64](op.id))
	case reflect.Complex128:
		fn = lift[T](complexOp[complex128](op.id))
	case reflect.Struct:
		switch any(*new(T)).(type) {
		case ValueIndex[float64]:
			fn = lift[T](locOp[float64](op.id))
		case ValueIndex[float32]:
			fn = lift[T](locOp[float32](op.id))
		case ValueIndex[int]:
			fn = lift[T](locOp[int](op.id))
		case ValueIndex[int64]:
			fn = lift[T](locOp[int64](op.id))
		case ValueIndex[int32]:
			fn = lift[T](locOp[int32](op.id))
		}
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: %s is not defined on %s elements", ErrArg, op, t)
	}
	return fn, nil
}

// lift runs a reduction on the concrete type E that T is (same layout).
func lift[T, E any](f func(dst, a, b []E)) func(dst, a, b []T) {
	if f == nil {
		return nil
	}
	return func(dst, a, b []T) { f(cast[E](dst), cast[E](a), cast[E](b)) }
}

func cast[E, T any](s []T) []E {
	return unsafe.Slice((*E)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

type integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

type float interface{ ~float32 | ~float64 }

type ordered interface{ integer | float }

func intOp[E integer](id uint32) func(dst, a, b []E) {
	switch id {
	case BAnd.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = a[i] & b[i]
			}
		}
	case BOr.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = a[i] | b[i]
			}
		}
	case BXor.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = a[i] ^ b[i]
			}
		}
	}
	return orderedOp[E](id)
}

func floatOp[E float](id uint32) func(dst, a, b []E) { return orderedOp[E](id) }

func orderedOp[E ordered](id uint32) func(dst, a, b []E) {
	switch id {
	case Min.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = min(a[i], b[i])
			}
		}
	case Max.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = max(a[i], b[i])
			}
		}
	}
	return arithOp[E](id)
}

func complexOp[E ~complex64 | ~complex128](id uint32) func(dst, a, b []E) { return arithOp[E](id) }

func arithOp[E Numeric](id uint32) func(dst, a, b []E) {
	switch id {
	case Sum.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = a[i] + b[i]
			}
		}
	case Prod.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = a[i] * b[i]
			}
		}
	case LAnd.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = truth[E](a[i] != 0 && b[i] != 0)
			}
		}
	case LOr.id:
		return func(d, a, b []E) {
			for i := range d {
				d[i] = truth[E](a[i] != 0 || b[i] != 0)
			}
		}
	}
	return nil
}

func truth[E Numeric](b bool) E {
	if b {
		return 1
	}
	return 0
}

func locOp[E ordered](id uint32) func(dst, a, b []ValueIndex[E]) {
	var better func(x, y E) bool
	switch id {
	case MinLoc.id:
		better = func(x, y E) bool { return x < y }
	case MaxLoc.id:
		better = func(x, y E) bool { return x > y }
	default:
		return nil
	}
	return func(d, a, b []ValueIndex[E]) {
		for i := range d {
			x, y := a[i], b[i]
			switch {
			case better(y.Value, x.Value), y.Value == x.Value && y.Index < x.Index:
				d[i] = y
			default:
				d[i] = x
			}
		}
	}
}
