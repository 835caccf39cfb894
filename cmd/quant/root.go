package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "quant",
		Short:         "Run GGUF language models fast on Apple GPUs and CPUs",
		Version:       versionText(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(newInfoCmd(), newRunCmd(), newBenchCmd(), newPPLCmd())
	return root
}
