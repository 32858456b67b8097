// Package models holds online inference (Go) and the offline training pipeline (Python,
// under models/train) with the model the platform ships.
package models
