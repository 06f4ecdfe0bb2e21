// k8s-yaml2json reads YAML documents (separated by a line "---") on stdin and prints each as one
// line of JSON, exactly as Kubernetes reads manifests (sigs.k8s.io/yaml, the reader of kubectl and
// the API server). The meshctl tests compare their own YAML reading with it.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	in, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, doc := range strings.Split(string(in), "\n---\n") {
		out, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			fmt.Printf("{\"error\":%q}\n", err.Error())
			continue
		}
		fmt.Println(string(out))
	}
}
