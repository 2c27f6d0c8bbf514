package content

import "crypto/rand"

var randReader = rand.Reader
