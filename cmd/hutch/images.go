package main

import "github.com/spf13/cobra"

// addImageCommands registers the image verbs (pull, push, images, rmi,
// tag, inspect, history, save, load, import, image prune).
func addImageCommands(root *cobra.Command, g *globals) {}
