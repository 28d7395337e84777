from scratch AS base
