package object_test

import (
	"fmt"

	"github.com/odgm-go/odgm/object"
)

func ExampleNormalizeID() {
	id, err := object.NormalizeID("User:42")
	fmt.Println(id, err)
	_, err = object.NormalizeID("user/42")
	fmt.Println(err)
	// Output:
	// user:42 <nil>
	// object: invalid id: byte '/' at offset 4 is not one of [a-z0-9._:-]
}

func ExamplePartition() {
	fmt.Println(object.Partition("user:42", 16), object.Partition("user:42", 1))
	// Output: 2 0
}
