// agentarea-cp is the local Kubernetes control plane that the tests and the README's run command
// use on machines without a container engine: a real etcd, kube-apiserver and
// kube-controller-manager (garbage collector, Deployment and ReplicaSet controllers), built from
// the released Kubernetes Go modules, plus kubectl. It works the way controller-runtime's envtest
// does, with one difference: the controller-manager runs too, so owner-reference cascades are real.
//
// It is one busybox-style binary. The component is chosen by the name it is called by (a symlink
// named kubectl runs kubectl) or by its first argument:
//
//	agentarea-cp up --dir DIR            start everything, write DIR/kubeconfig, run until SIGTERM
//	agentarea-cp etcd --dir DIR ...      embedded etcd (used by up)
//	agentarea-cp kube-apiserver ...      the real kube-apiserver (used by up)
//	agentarea-cp kube-controller-manager ...
//	agentarea-cp kubectl ...
package main

import (
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // CronJob-style time zones must resolve without the host's zoneinfo.

	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "agentarea-cp" || name == "main" {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	// The component commands parse os.Args themselves (cobra), so present them with their own view.
	os.Args = append([]string{name}, args...)

	switch name {
	case "up":
		os.Exit(runUp(args))
	case "etcd":
		os.Exit(runEtcd(args))
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kubectl":
		cmd := kubectl.NewDefaultKubectlCommand()
		os.Exit(cli.Run(cmd))
	case "version":
		fmt.Println(kubernetesVersion())
	default:
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: agentarea-cp up|etcd|kube-apiserver|kube-controller-manager|kubectl|version [flags]")
}
