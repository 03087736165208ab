// kstatus prints the kstatus (sigs.k8s.io/cli-utils) status of each object in a JSON array read
// from stdin, one per line: the status Flux and kpt compute. Test tooling only.
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading stdin:", err)
		os.Exit(2)
	}
	// The apimachinery decoder keeps integers as int64, as unstructured objects expect.
	var objects []interface{}
	if err := utiljson.Unmarshal(input, &objects); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading objects:", err)
		os.Exit(2)
	}
	for _, object := range objects {
		fields, ok := object.(map[string]interface{})
		if !ok {
			fmt.Println("Error: not an object")
			continue
		}
		result, err := status.Compute(&unstructured.Unstructured{Object: fields})
		if err != nil {
			fmt.Printf("Error: %s\n", err)
			continue
		}
		fmt.Println(result.Status)
	}
}
