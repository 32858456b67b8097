// Code generated - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package contracts

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = errors.New
	_ = big.NewInt
	_ = strings.NewReader
	_ = ethereum.NotFound
	_ = bind.Bind
	_ = common.Big1
	_ = types.BloomLookup
	_ = event.NewSubscription
	_ = abi.ConvertType
	_ = time.Tick
	_ = context.Background
)

// WeirSplitterMetaData contains all meta data concerning the WeirSplitter contract.
var WeirSplitterMetaData = &bind.MetaData{
	ABI: "[{\"inputs\":[],\"name\":\"NoRecipients\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"Refused\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"}],\"name\":\"SendFailed\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address[]\",\"name\":\"to\",\"type\":\"address[]\"}],\"name\":\"split\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address[]\",\"name\":\"to\",\"type\":\"address[]\"}],\"name\":\"splitAndRevert\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"contractWeirSplitter\",\"name\":\"next\",\"type\":\"address\"},{\"internalType\":\"address[]\",\"name\":\"to\",\"type\":\"address[]\"}],\"name\":\"splitNested\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"}]",
	Bin: "0x6080604052348015600e575f5ffd5b506104bd8061001c5f395ff3fe608060405260043610610033575f3560e01c806306d0e3601461003757806394e4a8221461004c578063f5e1dbfa1461005f575b5f5ffd5b61004a61004536600461033f565b610072565b005b61004a61005a36600461033f565b610096565b61004a61006d366004610395565b6100a5565b61007d8282346101ed565b604051638ac5ff0b60e01b815260040160405180910390fd5b6100a18282346101ed565b5050565b5f6100b16003346103e6565b90506100be8383836101ed565b604051634a72541160e11b81526001600160a01b038516906394e4a8229083906100ee9087908790600401610405565b5f604051808303818588803b158015610105575f5ffd5b505af1158015610117573d5f5f3e3d5ffd5b50506040516236871b60e51b81526001600160a01b03881693506306d0e360925084915061014b9087908790600401610405565b5f604051808303818588803b158015610162575f5ffd5b505af193505050508015610174575060015b6101e7576040515f90339083908381818185875af1925050503d805f81146101b7576040519150601f19603f3d011682016040523d82523d5f602084013e6101bc565b606091505b50509050806101e55760405163b1f8ebed60e01b81523360048201526024015b60405180910390fd5b505b50505050565b5f82900361020e576040516348e0555160e11b815260040160405180910390fd5b5f61021983836103e6565b90505f5b838110156101e5575f85858381811061023857610238610451565b905060200201602081019061024d9190610465565b6001600160a01b0316836040515f6040518083038185875af1925050503d805f8114610294576040519150601f19603f3d011682016040523d82523d5f602084013e610299565b606091505b50509050806102ee578585838181106102b4576102b4610451565b90506020020160208101906102c99190610465565b60405163b1f8ebed60e01b81526001600160a01b0390911660048201526024016101dc565b5060010161021d565b5f5f83601f840112610307575f5ffd5b50813567ffffffffffffffff81111561031e575f5ffd5b6020830191508360208260051b8501011115610338575f5ffd5b9250929050565b5f5f60208385031215610350575f5ffd5b823567ffffffffffffffff811115610366575f5ffd5b610372858286016102f7565b90969095509350505050565b6001600160a01b0381168114610392575f5ffd5b50565b5f5f5f604084860312156103a7575f5ffd5b83356103b28161037e565b9250602084013567ffffffffffffffff8111156103cd575f5ffd5b6103d9868287016102f7565b9497909650939450505050565b5f8261040057634e487b7160e01b5f52601260045260245ffd5b500490565b602080825281018290525f8360408301825b8581101561044757823561042a8161037e565b6001600160a01b0316825260209283019290910190600101610417565b5095945050505050565b634e487b7160e01b5f52603260045260245ffd5b5f60208284031215610475575f5ffd5b81356104808161037e565b939250505056fea26469706673582212204d114048e6ef21aa6e2daa3d6f2a6cd60f38ac95ea141593bfe7a053a38605d464736f6c63430008250033",
}

// WeirSplitterABI is the input ABI used to generate the binding from.
// Deprecated: Use WeirSplitterMetaData.ABI instead.
var WeirSplitterABI = WeirSplitterMetaData.ABI

// WeirSplitterBin is the compiled bytecode used for deploying new contracts.
// Deprecated: Use WeirSplitterMetaData.Bin instead.
var WeirSplitterBin = WeirSplitterMetaData.Bin

// DeployWeirSplitter deploys a new Ethereum contract, binding an instance of WeirSplitter to it.
func DeployWeirSplitter(auth *bind.TransactOpts, backend bind.ContractBackend) (common.Address, *types.Transaction, *WeirSplitter, error) {
	parsed, err := WeirSplitterMetaData.GetAbi()
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	if parsed == nil {
		return common.Address{}, nil, nil, errors.New("GetABI returned nil")
	}

	address, tx, contract, err := bind.DeployContract(auth, *parsed, common.FromHex(WeirSplitterBin), backend)
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	return address, tx, &WeirSplitter{WeirSplitterCaller: WeirSplitterCaller{contract: contract}, WeirSplitterTransactor: WeirSplitterTransactor{contract: contract}, WeirSplitterFilterer: WeirSplitterFilterer{contract: contract}}, nil
}

// WeirSplitter is an auto generated Go binding around an Ethereum contract.
type WeirSplitter struct {
	WeirSplitterCaller     // Read-only binding to the contract
	WeirSplitterTransactor // Write-only binding to the contract
	WeirSplitterFilterer   // Log filterer for contract events
}

// WeirSplitterCaller is an auto generated read-only Go binding around an Ethereum contract.
type WeirSplitterCaller struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirSplitterTransactor is an auto generated write-only Go binding around an Ethereum contract.
type WeirSplitterTransactor struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirSplitterFilterer is an auto generated log filtering Go binding around an Ethereum contract events.
type WeirSplitterFilterer struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirSplitterSession is an auto generated Go binding around an Ethereum contract,
// with pre-set call and transact options.
type WeirSplitterSession struct {
	Contract     *WeirSplitter     // Generic contract binding to set the session for
	CallOpts     bind.CallOpts     // Call options to use throughout this session
	TransactOpts bind.TransactOpts // Transaction auth options to use throughout this session
}

// WeirSplitterCallerSession is an auto generated read-only Go binding around an Ethereum contract,
// with pre-set call options.
type WeirSplitterCallerSession struct {
	Contract *WeirSplitterCaller // Generic contract caller binding to set the session for
	CallOpts bind.CallOpts       // Call options to use throughout this session
}

// WeirSplitterTransactorSession is an auto generated write-only Go binding around an Ethereum contract,
// with pre-set transact options.
type WeirSplitterTransactorSession struct {
	Contract     *WeirSplitterTransactor // Generic contract transactor binding to set the session for
	TransactOpts bind.TransactOpts       // Transaction auth options to use throughout this session
}

// WeirSplitterRaw is an auto generated low-level Go binding around an Ethereum contract.
type WeirSplitterRaw struct {
	Contract *WeirSplitter // Generic contract binding to access the raw methods on
}

// WeirSplitterCallerRaw is an auto generated low-level read-only Go binding around an Ethereum contract.
type WeirSplitterCallerRaw struct {
	Contract *WeirSplitterCaller // Generic read-only contract binding to access the raw methods on
}

// WeirSplitterTransactorRaw is an auto generated low-level write-only Go binding around an Ethereum contract.
type WeirSplitterTransactorRaw struct {
	Contract *WeirSplitterTransactor // Generic write-only contract binding to access the raw methods on
}

// NewWeirSplitter creates a new instance of WeirSplitter, bound to a specific deployed contract.
func NewWeirSplitter(address common.Address, backend bind.ContractBackend) (*WeirSplitter, error) {
	contract, err := bindWeirSplitter(address, backend, backend, backend)
	if err != nil {
		return nil, err
	}
	return &WeirSplitter{WeirSplitterCaller: WeirSplitterCaller{contract: contract}, WeirSplitterTransactor: WeirSplitterTransactor{contract: contract}, WeirSplitterFilterer: WeirSplitterFilterer{contract: contract}}, nil
}

// NewWeirSplitterCaller creates a new read-only instance of WeirSplitter, bound to a specific deployed contract.
func NewWeirSplitterCaller(address common.Address, caller bind.ContractCaller) (*WeirSplitterCaller, error) {
	contract, err := bindWeirSplitter(address, caller, nil, nil)
	if err != nil {
		return nil, err
	}
	return &WeirSplitterCaller{contract: contract}, nil
}

// NewWeirSplitterTransactor creates a new write-only instance of WeirSplitter, bound to a specific deployed contract.
func NewWeirSplitterTransactor(address common.Address, transactor bind.ContractTransactor) (*WeirSplitterTransactor, error) {
	contract, err := bindWeirSplitter(address, nil, transactor, nil)
	if err != nil {
		return nil, err
	}
	return &WeirSplitterTransactor{contract: contract}, nil
}

// NewWeirSplitterFilterer creates a new log filterer instance of WeirSplitter, bound to a specific deployed contract.
func NewWeirSplitterFilterer(address common.Address, filterer bind.ContractFilterer) (*WeirSplitterFilterer, error) {
	contract, err := bindWeirSplitter(address, nil, nil, filterer)
	if err != nil {
		return nil, err
	}
	return &WeirSplitterFilterer{contract: contract}, nil
}

// bindWeirSplitter binds a generic wrapper to an already deployed contract.
func bindWeirSplitter(address common.Address, caller bind.ContractCaller, transactor bind.ContractTransactor, filterer bind.ContractFilterer) (*bind.BoundContract, error) {
	parsed, err := WeirSplitterMetaData.GetAbi()
	if err != nil {
		return nil, err
	}
	return bind.NewBoundContract(address, *parsed, caller, transactor, filterer), nil
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_WeirSplitter *WeirSplitterRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _WeirSplitter.Contract.WeirSplitterCaller.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_WeirSplitter *WeirSplitterRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _WeirSplitter.Contract.WeirSplitterTransactor.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_WeirSplitter *WeirSplitterRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _WeirSplitter.Contract.WeirSplitterTransactor.contract.Transact(opts, method, params...)
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_WeirSplitter *WeirSplitterCallerRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _WeirSplitter.Contract.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_WeirSplitter *WeirSplitterTransactorRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _WeirSplitter.Contract.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_WeirSplitter *WeirSplitterTransactorRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _WeirSplitter.Contract.contract.Transact(opts, method, params...)
}

// Split is a paid mutator transaction binding the contract method 0x94e4a822.
//
// Solidity: function split(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactor) Split(opts *bind.TransactOpts, to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.contract.Transact(opts, "split", to)
}

// Split is a paid mutator transaction binding the contract method 0x94e4a822.
//
// Solidity: function split(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterSession) Split(to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.Split(&_WeirSplitter.TransactOpts, to)
}

// Split is a paid mutator transaction binding the contract method 0x94e4a822.
//
// Solidity: function split(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactorSession) Split(to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.Split(&_WeirSplitter.TransactOpts, to)
}

// SplitAndRevert is a paid mutator transaction binding the contract method 0x06d0e360.
//
// Solidity: function splitAndRevert(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactor) SplitAndRevert(opts *bind.TransactOpts, to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.contract.Transact(opts, "splitAndRevert", to)
}

// SplitAndRevert is a paid mutator transaction binding the contract method 0x06d0e360.
//
// Solidity: function splitAndRevert(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterSession) SplitAndRevert(to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.SplitAndRevert(&_WeirSplitter.TransactOpts, to)
}

// SplitAndRevert is a paid mutator transaction binding the contract method 0x06d0e360.
//
// Solidity: function splitAndRevert(address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactorSession) SplitAndRevert(to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.SplitAndRevert(&_WeirSplitter.TransactOpts, to)
}

// SplitNested is a paid mutator transaction binding the contract method 0xf5e1dbfa.
//
// Solidity: function splitNested(address next, address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactor) SplitNested(opts *bind.TransactOpts, next common.Address, to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.contract.Transact(opts, "splitNested", next, to)
}

// SplitNested is a paid mutator transaction binding the contract method 0xf5e1dbfa.
//
// Solidity: function splitNested(address next, address[] to) payable returns()
func (_WeirSplitter *WeirSplitterSession) SplitNested(next common.Address, to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.SplitNested(&_WeirSplitter.TransactOpts, next, to)
}

// SplitNested is a paid mutator transaction binding the contract method 0xf5e1dbfa.
//
// Solidity: function splitNested(address next, address[] to) payable returns()
func (_WeirSplitter *WeirSplitterTransactorSession) SplitNested(next common.Address, to []common.Address) (*types.Transaction, error) {
	return _WeirSplitter.Contract.SplitNested(&_WeirSplitter.TransactOpts, next, to)
}
