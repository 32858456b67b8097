package codec

import "time"

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
