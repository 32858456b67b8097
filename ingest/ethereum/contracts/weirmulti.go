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

// WeirMultiMetaData contains all meta data concerning the WeirMulti contract.
var WeirMultiMetaData = &bind.MetaData{
	ABI: "[{\"inputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"have\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"want\",\"type\":\"uint256\"}],\"name\":\"InsufficientBalance\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"LengthMismatch\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NotAuthorized\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NotMinter\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"ZeroAddress\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"ApprovalForAll\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256[]\",\"name\":\"ids\",\"type\":\"uint256[]\"},{\"indexed\":false,\"internalType\":\"uint256[]\",\"name\":\"values\",\"type\":\"uint256[]\"}],\"name\":\"TransferBatch\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"}],\"name\":\"TransferSingle\",\"type\":\"event\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"},{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"name\":\"balanceOf\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"name\":\"isApprovedForAll\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"}],\"name\":\"mint\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"minter\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256[]\",\"name\":\"ids\",\"type\":\"uint256[]\"},{\"internalType\":\"uint256[]\",\"name\":\"values\",\"type\":\"uint256[]\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"safeBatchTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"id\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"value\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"safeTransferFrom\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"operator\",\"type\":\"address\"},{\"internalType\":\"bool\",\"name\":\"approved\",\"type\":\"bool\"}],\"name\":\"setApprovalForAll\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	Bin: "0x60a0604052348015600e575f5ffd5b50336080526080516108cd6100315f395f81816083015261018d01526108cd5ff3fe608060405234801561000f575f5ffd5b506004361061007a575f3560e01c80633656eec2116100585780633656eec2146100ea578063a22cb4651461011f578063e985e9c514610132578063f242432a1461016f575f5ffd5b8063075461721461007e578063156e29f6146100c25780632eb2c2d6146100d7575b5f5ffd5b6100a57f000000000000000000000000000000000000000000000000000000000000000081565b6040516001600160a01b0390911681526020015b60405180910390f35b6100d56100d036600461056f565b610182565b005b6100d56100e5366004610625565b610273565b6101116100f83660046106e4565b5f60208181529281526040808220909352908152205481565b6040519081526020016100b9565b6100d561012d36600461070e565b610354565b61015f610140366004610747565b600160209081525f928352604080842090915290825290205460ff1681565b60405190151581526020016100b9565b6100d561017d36600461076f565b6103bf565b336001600160a01b037f000000000000000000000000000000000000000000000000000000000000000016146101cb57604051633e34a41b60e21b815260040160405180910390fd5b6001600160a01b0383166101f25760405163d92e233d60e01b815260040160405180910390fd5b5f828152602081815260408083206001600160a01b0387168452909152812080548392906102219084906107f6565b909155505060408051838152602081018390526001600160a01b038516915f9133917fc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62910160405180910390a4505050565b848314610296576040516001621398b960e31b0319815260040160405180910390fd5b6102a08888610428565b5f5b858110156102ee576102e689898989858181106102c1576102c161080f565b905060200201358888868181106102da576102da61080f565b905060200201356104ad565b6001016102a2565b50866001600160a01b0316886001600160a01b0316336001600160a01b03167f4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb898989896040516103429493929190610853565b60405180910390a45050505050505050565b335f8181526001602090815260408083206001600160a01b03871680855290835292819020805460ff191686151590811790915590519081529192917f17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31910160405180910390a35050565b6103c98686610428565b6103d5868686866104ad565b60408051858152602081018590526001600160a01b03808816929089169133917fc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62910160405180910390a4505050505050565b6001600160a01b03811661044f5760405163d92e233d60e01b815260040160405180910390fd5b336001600160a01b0383161480159061048b57506001600160a01b0382165f90815260016020908152604080832033845290915290205460ff16155b156104a95760405163ea8e4eb560e01b815260040160405180910390fd5b5050565b5f828152602081815260408083206001600160a01b0388168452909152902054818110156105035760405163fcca373360e01b815260048101849052602481018290526044810183905260640160405180910390fd5b61050d8282610884565b5f848152602081815260408083206001600160a01b038a811685529252808320939093558616815290812080548492906105489084906107f6565b90915550505050505050565b80356001600160a01b038116811461056a575f5ffd5b919050565b5f5f5f60608486031215610581575f5ffd5b61058a84610554565b95602085013595506040909401359392505050565b5f5f83601f8401126105af575f5ffd5b50813567ffffffffffffffff8111156105c6575f5ffd5b6020830191508360208260051b85010111156105e0575f5ffd5b9250929050565b5f5f83601f8401126105f7575f5ffd5b50813567ffffffffffffffff81111561060e575f5ffd5b6020830191508360208285010111156105e0575f5ffd5b5f5f5f5f5f5f5f5f60a0898b03121561063c575f5ffd5b61064589610554565b975061065360208a01610554565b9650604089013567ffffffffffffffff81111561066e575f5ffd5b61067a8b828c0161059f565b909750955050606089013567ffffffffffffffff811115610699575f5ffd5b6106a58b828c0161059f565b909550935050608089013567ffffffffffffffff8111156106c4575f5ffd5b6106d08b828c016105e7565b999c989b5096995094979396929594505050565b5f5f604083850312156106f5575f5ffd5b8235915061070560208401610554565b90509250929050565b5f5f6040838503121561071f575f5ffd5b61072883610554565b91506020830135801515811461073c575f5ffd5b809150509250929050565b5f5f60408385031215610758575f5ffd5b61076183610554565b915061070560208401610554565b5f5f5f5f5f5f60a08789031215610784575f5ffd5b61078d87610554565b955061079b60208801610554565b94506040870135935060608701359250608087013567ffffffffffffffff8111156107c4575f5ffd5b6107d089828a016105e7565b979a9699509497509295939492505050565b634e487b7160e01b5f52601160045260245ffd5b80820180821115610809576108096107e2565b92915050565b634e487b7160e01b5f52603260045260245ffd5b8183525f6001600160fb1b0383111561083a575f5ffd5b8260051b80836020870137939093016020019392505050565b604081525f610866604083018688610823565b8281036020840152610879818587610823565b979650505050505050565b81810381811115610809576108096107e256fea2646970667358221220303e1fd23da2e55ed981540b16bbbdfeabd60f2000803f5d159bae0c7ec4eed864736f6c63430008250033",
}

// WeirMultiABI is the input ABI used to generate the binding from.
// Deprecated: Use WeirMultiMetaData.ABI instead.
var WeirMultiABI = WeirMultiMetaData.ABI

// WeirMultiBin is the compiled bytecode used for deploying new contracts.
// Deprecated: Use WeirMultiMetaData.Bin instead.
var WeirMultiBin = WeirMultiMetaData.Bin

// DeployWeirMulti deploys a new Ethereum contract, binding an instance of WeirMulti to it.
func DeployWeirMulti(auth *bind.TransactOpts, backend bind.ContractBackend) (common.Address, *types.Transaction, *WeirMulti, error) {
	parsed, err := WeirMultiMetaData.GetAbi()
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	if parsed == nil {
		return common.Address{}, nil, nil, errors.New("GetABI returned nil")
	}

	address, tx, contract, err := bind.DeployContract(auth, *parsed, common.FromHex(WeirMultiBin), backend)
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	return address, tx, &WeirMulti{WeirMultiCaller: WeirMultiCaller{contract: contract}, WeirMultiTransactor: WeirMultiTransactor{contract: contract}, WeirMultiFilterer: WeirMultiFilterer{contract: contract}}, nil
}

// WeirMulti is an auto generated Go binding around an Ethereum contract.
type WeirMulti struct {
	WeirMultiCaller     // Read-only binding to the contract
	WeirMultiTransactor // Write-only binding to the contract
	WeirMultiFilterer   // Log filterer for contract events
}

// WeirMultiCaller is an auto generated read-only Go binding around an Ethereum contract.
type WeirMultiCaller struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirMultiTransactor is an auto generated write-only Go binding around an Ethereum contract.
type WeirMultiTransactor struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirMultiFilterer is an auto generated log filtering Go binding around an Ethereum contract events.
type WeirMultiFilterer struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// WeirMultiSession is an auto generated Go binding around an Ethereum contract,
// with pre-set call and transact options.
type WeirMultiSession struct {
	Contract     *WeirMulti        // Generic contract binding to set the session for
	CallOpts     bind.CallOpts     // Call options to use throughout this session
	TransactOpts bind.TransactOpts // Transaction auth options to use throughout this session
}

// WeirMultiCallerSession is an auto generated read-only Go binding around an Ethereum contract,
// with pre-set call options.
type WeirMultiCallerSession struct {
	Contract *WeirMultiCaller // Generic contract caller binding to set the session for
	CallOpts bind.CallOpts    // Call options to use throughout this session
}

// WeirMultiTransactorSession is an auto generated write-only Go binding around an Ethereum contract,
// with pre-set transact options.
type WeirMultiTransactorSession struct {
	Contract     *WeirMultiTransactor // Generic contract transactor binding to set the session for
	TransactOpts bind.TransactOpts    // Transaction auth options to use throughout this session
}

// WeirMultiRaw is an auto generated low-level Go binding around an Ethereum contract.
type WeirMultiRaw struct {
	Contract *WeirMulti // Generic contract binding to access the raw methods on
}

// WeirMultiCallerRaw is an auto generated low-level read-only Go binding around an Ethereum contract.
type WeirMultiCallerRaw struct {
	Contract *WeirMultiCaller // Generic read-only contract binding to access the raw methods on
}

// WeirMultiTransactorRaw is an auto generated low-level write-only Go binding around an Ethereum contract.
type WeirMultiTransactorRaw struct {
	Contract *WeirMultiTransactor // Generic write-only contract binding to access the raw methods on
}

// NewWeirMulti creates a new instance of WeirMulti, bound to a specific deployed contract.
func NewWeirMulti(address common.Address, backend bind.ContractBackend) (*WeirMulti, error) {
	contract, err := bindWeirMulti(address, backend, backend, backend)
	if err != nil {
		return nil, err
	}
	return &WeirMulti{WeirMultiCaller: WeirMultiCaller{contract: contract}, WeirMultiTransactor: WeirMultiTransactor{contract: contract}, WeirMultiFilterer: WeirMultiFilterer{contract: contract}}, nil
}

// NewWeirMultiCaller creates a new read-only instance of WeirMulti, bound to a specific deployed contract.
func NewWeirMultiCaller(address common.Address, caller bind.ContractCaller) (*WeirMultiCaller, error) {
	contract, err := bindWeirMulti(address, caller, nil, nil)
	if err != nil {
		return nil, err
	}
	return &WeirMultiCaller{contract: contract}, nil
}

// NewWeirMultiTransactor creates a new write-only instance of WeirMulti, bound to a specific deployed contract.
func NewWeirMultiTransactor(address common.Address, transactor bind.ContractTransactor) (*WeirMultiTransactor, error) {
	contract, err := bindWeirMulti(address, nil, transactor, nil)
	if err != nil {
		return nil, err
	}
	return &WeirMultiTransactor{contract: contract}, nil
}

// NewWeirMultiFilterer creates a new log filterer instance of WeirMulti, bound to a specific deployed contract.
func NewWeirMultiFilterer(address common.Address, filterer bind.ContractFilterer) (*WeirMultiFilterer, error) {
	contract, err := bindWeirMulti(address, nil, nil, filterer)
	if err != nil {
		return nil, err
	}
	return &WeirMultiFilterer{contract: contract}, nil
}

// bindWeirMulti binds a generic wrapper to an already deployed contract.
func bindWeirMulti(address common.Address, caller bind.ContractCaller, transactor bind.ContractTransactor, filterer bind.ContractFilterer) (*bind.BoundContract, error) {
	parsed, err := WeirMultiMetaData.GetAbi()
	if err != nil {
		return nil, err
	}
	return bind.NewBoundContract(address, *parsed, caller, transactor, filterer), nil
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_WeirMulti *WeirMultiRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _WeirMulti.Contract.WeirMultiCaller.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_WeirMulti *WeirMultiRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _WeirMulti.Contract.WeirMultiTransactor.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_WeirMulti *WeirMultiRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _WeirMulti.Contract.WeirMultiTransactor.contract.Transact(opts, method, params...)
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_WeirMulti *WeirMultiCallerRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _WeirMulti.Contract.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_WeirMulti *WeirMultiTransactorRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _WeirMulti.Contract.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_WeirMulti *WeirMultiTransactorRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _WeirMulti.Contract.contract.Transact(opts, method, params...)
}

// BalanceOf is a free data retrieval call binding the contract method 0x3656eec2.
//
// Solidity: function balanceOf(uint256 , address ) view returns(uint256)
func (_WeirMulti *WeirMultiCaller) BalanceOf(opts *bind.CallOpts, arg0 *big.Int, arg1 common.Address) (*big.Int, error) {
	var out []interface{}
	err := _WeirMulti.contract.Call(opts, &out, "balanceOf", arg0, arg1)

	if err != nil {
		return *new(*big.Int), err
	}

	out0 := *abi.ConvertType(out[0], new(*big.Int)).(**big.Int)

	return out0, err

}

// BalanceOf is a free data retrieval call binding the contract method 0x3656eec2.
//
// Solidity: function balanceOf(uint256 , address ) view returns(uint256)
func (_WeirMulti *WeirMultiSession) BalanceOf(arg0 *big.Int, arg1 common.Address) (*big.Int, error) {
	return _WeirMulti.Contract.BalanceOf(&_WeirMulti.CallOpts, arg0, arg1)
}

// BalanceOf is a free data retrieval call binding the contract method 0x3656eec2.
//
// Solidity: function balanceOf(uint256 , address ) view returns(uint256)
func (_WeirMulti *WeirMultiCallerSession) BalanceOf(arg0 *big.Int, arg1 common.Address) (*big.Int, error) {
	return _WeirMulti.Contract.BalanceOf(&_WeirMulti.CallOpts, arg0, arg1)
}

// IsApprovedForAll is a free data retrieval call binding the contract method 0xe985e9c5.
//
// Solidity: function isApprovedForAll(address , address ) view returns(bool)
func (_WeirMulti *WeirMultiCaller) IsApprovedForAll(opts *bind.CallOpts, arg0 common.Address, arg1 common.Address) (bool, error) {
	var out []interface{}
	err := _WeirMulti.contract.Call(opts, &out, "isApprovedForAll", arg0, arg1)

	if err != nil {
		return *new(bool), err
	}

	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)

	return out0, err

}

// IsApprovedForAll is a free data retrieval call binding the contract method 0xe985e9c5.
//
// Solidity: function isApprovedForAll(address , address ) view returns(bool)
func (_WeirMulti *WeirMultiSession) IsApprovedForAll(arg0 common.Address, arg1 common.Address) (bool, error) {
	return _WeirMulti.Contract.IsApprovedForAll(&_WeirMulti.CallOpts, arg0, arg1)
}

// IsApprovedForAll is a free data retrieval call binding the contract method 0xe985e9c5.
//
// Solidity: function isApprovedForAll(address , address ) view returns(bool)
func (_WeirMulti *WeirMultiCallerSession) IsApprovedForAll(arg0 common.Address, arg1 common.Address) (bool, error) {
	return _WeirMulti.Contract.IsApprovedForAll(&_WeirMulti.CallOpts, arg0, arg1)
}

// Minter is a free data retrieval call binding the contract method 0x07546172.
//
// Solidity: function minter() view returns(address)
func (_WeirMulti *WeirMultiCaller) Minter(opts *bind.CallOpts) (common.Address, error) {
	var out []interface{}
	err := _WeirMulti.contract.Call(opts, &out, "minter")

	if err != nil {
		return *new(common.Address), err
	}

	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)

	return out0, err

}

// Minter is a free data retrieval call binding the contract method 0x07546172.
//
// Solidity: function minter() view returns(address)
func (_WeirMulti *WeirMultiSession) Minter() (common.Address, error) {
	return _WeirMulti.Contract.Minter(&_WeirMulti.CallOpts)
}

// Minter is a free data retrieval call binding the contract method 0x07546172.
//
// Solidity: function minter() view returns(address)
func (_WeirMulti *WeirMultiCallerSession) Minter() (common.Address, error) {
	return _WeirMulti.Contract.Minter(&_WeirMulti.CallOpts)
}

// Mint is a paid mutator transaction binding the contract method 0x156e29f6.
//
// Solidity: function mint(address to, uint256 id, uint256 value) returns()
func (_WeirMulti *WeirMultiTransactor) Mint(opts *bind.TransactOpts, to common.Address, id *big.Int, value *big.Int) (*types.Transaction, error) {
	return _WeirMulti.contract.Transact(opts, "mint", to, id, value)
}

// Mint is a paid mutator transaction binding the contract method 0x156e29f6.
//
// Solidity: function mint(address to, uint256 id, uint256 value) returns()
func (_WeirMulti *WeirMultiSession) Mint(to common.Address, id *big.Int, value *big.Int) (*types.Transaction, error) {
	return _WeirMulti.Contract.Mint(&_WeirMulti.TransactOpts, to, id, value)
}

// Mint is a paid mutator transaction binding the contract method 0x156e29f6.
//
// Solidity: function mint(address to, uint256 id, uint256 value) returns()
func (_WeirMulti *WeirMultiTransactorSession) Mint(to common.Address, id *big.Int, value *big.Int) (*types.Transaction, error) {
	return _WeirMulti.Contract.Mint(&_WeirMulti.TransactOpts, to, id, value)
}

// SafeBatchTransferFrom is a paid mutator transaction binding the contract method 0x2eb2c2d6.
//
// Solidity: function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data) returns()
func (_WeirMulti *WeirMultiTransactor) SafeBatchTransferFrom(opts *bind.TransactOpts, from common.Address, to common.Address, ids []*big.Int, values []*big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.contract.Transact(opts, "safeBatchTransferFrom", from, to, ids, values, data)
}

// SafeBatchTransferFrom is a paid mutator transaction binding the contract method 0x2eb2c2d6.
//
// Solidity: function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data) returns()
func (_WeirMulti *WeirMultiSession) SafeBatchTransferFrom(from common.Address, to common.Address, ids []*big.Int, values []*big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.Contract.SafeBatchTransferFrom(&_WeirMulti.TransactOpts, from, to, ids, values, data)
}

// SafeBatchTransferFrom is a paid mutator transaction binding the contract method 0x2eb2c2d6.
//
// Solidity: function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data) returns()
func (_WeirMulti *WeirMultiTransactorSession) SafeBatchTransferFrom(from common.Address, to common.Address, ids []*big.Int, values []*big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.Contract.SafeBatchTransferFrom(&_WeirMulti.TransactOpts, from, to, ids, values, data)
}

// SafeTransferFrom is a paid mutator transaction binding the contract method 0xf242432a.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data) returns()
func (_WeirMulti *WeirMultiTransactor) SafeTransferFrom(opts *bind.TransactOpts, from common.Address, to common.Address, id *big.Int, value *big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.contract.Transact(opts, "safeTransferFrom", from, to, id, value, data)
}

// SafeTransferFrom is a paid mutator transaction binding the contract method 0xf242432a.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data) returns()
func (_WeirMulti *WeirMultiSession) SafeTransferFrom(from common.Address, to common.Address, id *big.Int, value *big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.Contract.SafeTransferFrom(&_WeirMulti.TransactOpts, from, to, id, value, data)
}

// SafeTransferFrom is a paid mutator transaction binding the contract method 0xf242432a.
//
// Solidity: function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data) returns()
func (_WeirMulti *WeirMultiTransactorSession) SafeTransferFrom(from common.Address, to common.Address, id *big.Int, value *big.Int, data []byte) (*types.Transaction, error) {
	return _WeirMulti.Contract.SafeTransferFrom(&_WeirMulti.TransactOpts, from, to, id, value, data)
}

// SetApprovalForAll is a paid mutator transaction binding the contract method 0xa22cb465.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (_WeirMulti *WeirMultiTransactor) SetApprovalForAll(opts *bind.TransactOpts, operator common.Address, approved bool) (*types.Transaction, error) {
	return _WeirMulti.contract.Transact(opts, "setApprovalForAll", operator, approved)
}

// SetApprovalForAll is a paid mutator transaction binding the contract method 0xa22cb465.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (_WeirMulti *WeirMultiSession) SetApprovalForAll(operator common.Address, approved bool) (*types.Transaction, error) {
	return _WeirMulti.Contract.SetApprovalForAll(&_WeirMulti.TransactOpts, operator, approved)
}

// SetApprovalForAll is a paid mutator transaction binding the contract method 0xa22cb465.
//
// Solidity: function setApprovalForAll(address operator, bool approved) returns()
func (_WeirMulti *WeirMultiTransactorSession) SetApprovalForAll(operator common.Address, approved bool) (*types.Transaction, error) {
	return _WeirMulti.Contract.SetApprovalForAll(&_WeirMulti.TransactOpts, operator, approved)
}

// WeirMultiApprovalForAllIterator is returned from FilterApprovalForAll and is used to iterate over the raw logs and unpacked data for ApprovalForAll events raised by the WeirMulti contract.
type WeirMultiApprovalForAllIterator struct {
	Event *WeirMultiApprovalForAll // Event containing the contract specifics and raw log

	contract *bind.BoundContract // Generic contract to use for unpacking event data
	event    string              // Event name to use for unpacking event data

	logs chan types.Log        // Log channel receiving the found contract events
	sub  ethereum.Subscription // Subscription for errors, completion and termination
	done bool                  // Whether the subscription completed delivering logs
	fail error                 // Occurred error to stop iteration
}

// Next advances the iterator to the subsequent event, returning whether there
// are any more events found. In case of a retrieval or parsing error, false is
// returned and Error() can be queried for the exact failure.
func (it *WeirMultiApprovalForAllIterator) Next() bool {
	// If the iterator failed, stop iterating
	if it.fail != nil {
		return false
	}
	// If the iterator completed, deliver directly whatever's available
	if it.done {
		select {
		case log := <-it.logs:
			it.Event = new(WeirMultiApprovalForAll)
			if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
				it.fail = err
				return false
			}
			it.Event.Raw = log
			return true

		default:
			return false
		}
	}
	// Iterator still in progress, wait for either a data or an error event
	select {
	case log := <-it.logs:
		it.Event = new(WeirMultiApprovalForAll)
		if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
			it.fail = err
			return false
		}
		it.Event.Raw = log
		return true

	case err := <-it.sub.Err():
		it.done = true
		it.fail = err
		return it.Next()
	}
}

// Error returns any retrieval or parsing error occurred during filtering.
func (it *WeirMultiApprovalForAllIterator) Error() error {
	return it.fail
}

// Close terminates the iteration process, releasing any pending underlying
// resources.
func (it *WeirMultiApprovalForAllIterator) Close() error {
	it.sub.Unsubscribe()
	return nil
}

// WeirMultiApprovalForAll represents a ApprovalForAll event raised by the WeirMulti contract.
type WeirMultiApprovalForAll struct {
	Account  common.Address
	Operator common.Address
	Approved bool
	Raw      types.Log // Blockchain specific contextual infos
}

// FilterApprovalForAll is a free log retrieval operation binding the contract event 0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31.
//
// Solidity: event ApprovalForAll(address indexed account, address indexed operator, bool approved)
func (_WeirMulti *WeirMultiFilterer) FilterApprovalForAll(opts *bind.FilterOpts, account []common.Address, operator []common.Address) (*WeirMultiApprovalForAllIterator, error) {

	var accountRule []interface{}
	for _, accountItem := range account {
		accountRule = append(accountRule, accountItem)
	}
	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}

	logs, sub, err := _WeirMulti.contract.FilterLogs(opts, "ApprovalForAll", accountRule, operatorRule)
	if err != nil {
		return nil, err
	}
	return &WeirMultiApprovalForAllIterator{contract: _WeirMulti.contract, event: "ApprovalForAll", logs: logs, sub: sub}, nil
}

// WatchApprovalForAll is a free log subscription operation binding the contract event 0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31.
//
// Solidity: event ApprovalForAll(address indexed account, address indexed operator, bool approved)
func (_WeirMulti *WeirMultiFilterer) WatchApprovalForAll(opts *bind.WatchOpts, sink chan<- *WeirMultiApprovalForAll, account []common.Address, operator []common.Address) (event.Subscription, error) {

	var accountRule []interface{}
	for _, accountItem := range account {
		accountRule = append(accountRule, accountItem)
	}
	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}

	logs, sub, err := _WeirMulti.contract.WatchLogs(opts, "ApprovalForAll", accountRule, operatorRule)
	if err != nil {
		return nil, err
	}
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer sub.Unsubscribe()
		for {
			select {
			case log := <-logs:
				// New log arrived, parse the event and forward to the user
				event := new(WeirMultiApprovalForAll)
				if err := _WeirMulti.contract.UnpackLog(event, "ApprovalForAll", log); err != nil {
					// If the signature doesn't match, skip this log.
					if errors.Is(err, bind.ErrEventSignatureMismatch) {
						continue
					}
					return err
				}
				event.Raw = log

				select {
				case sink <- event:
				case err := <-sub.Err():
					return err
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	}), nil
}

// ParseApprovalForAll is a log parse operation binding the contract event 0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31.
//
// Solidity: event ApprovalForAll(address indexed account, address indexed operator, bool approved)
func (_WeirMulti *WeirMultiFilterer) ParseApprovalForAll(log types.Log) (*WeirMultiApprovalForAll, error) {
	event := new(WeirMultiApprovalForAll)
	if err := _WeirMulti.contract.UnpackLog(event, "ApprovalForAll", log); err != nil {
		return nil, err
	}
	event.Raw = log
	return event, nil
}

// WeirMultiTransferBatchIterator is returned from FilterTransferBatch and is used to iterate over the raw logs and unpacked data for TransferBatch events raised by the WeirMulti contract.
type WeirMultiTransferBatchIterator struct {
	Event *WeirMultiTransferBatch // Event containing the contract specifics and raw log

	contract *bind.BoundContract // Generic contract to use for unpacking event data
	event    string              // Event name to use for unpacking event data

	logs chan types.Log        // Log channel receiving the found contract events
	sub  ethereum.Subscription // Subscription for errors, completion and termination
	done bool                  // Whether the subscription completed delivering logs
	fail error                 // Occurred error to stop iteration
}

// Next advances the iterator to the subsequent event, returning whether there
// are any more events found. In case of a retrieval or parsing error, false is
// returned and Error() can be queried for the exact failure.
func (it *WeirMultiTransferBatchIterator) Next() bool {
	// If the iterator failed, stop iterating
	if it.fail != nil {
		return false
	}
	// If the iterator completed, deliver directly whatever's available
	if it.done {
		select {
		case log := <-it.logs:
			it.Event = new(WeirMultiTransferBatch)
			if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
				it.fail = err
				return false
			}
			it.Event.Raw = log
			return true

		default:
			return false
		}
	}
	// Iterator still in progress, wait for either a data or an error event
	select {
	case log := <-it.logs:
		it.Event = new(WeirMultiTransferBatch)
		if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
			it.fail = err
			return false
		}
		it.Event.Raw = log
		return true

	case err := <-it.sub.Err():
		it.done = true
		it.fail = err
		return it.Next()
	}
}

// Error returns any retrieval or parsing error occurred during filtering.
func (it *WeirMultiTransferBatchIterator) Error() error {
	return it.fail
}

// Close terminates the iteration process, releasing any pending underlying
// resources.
func (it *WeirMultiTransferBatchIterator) Close() error {
	it.sub.Unsubscribe()
	return nil
}

// WeirMultiTransferBatch represents a TransferBatch event raised by the WeirMulti contract.
type WeirMultiTransferBatch struct {
	Operator common.Address
	From     common.Address
	To       common.Address
	Ids      []*big.Int
	Values   []*big.Int
	Raw      types.Log // Blockchain specific contextual infos
}

// FilterTransferBatch is a free log retrieval operation binding the contract event 0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb.
//
// Solidity: event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)
func (_WeirMulti *WeirMultiFilterer) FilterTransferBatch(opts *bind.FilterOpts, operator []common.Address, from []common.Address, to []common.Address) (*WeirMultiTransferBatchIterator, error) {

	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}
	var fromRule []interface{}
	for _, fromItem := range from {
		fromRule = append(fromRule, fromItem)
	}
	var toRule []interface{}
	for _, toItem := range to {
		toRule = append(toRule, toItem)
	}

	logs, sub, err := _WeirMulti.contract.FilterLogs(opts, "TransferBatch", operatorRule, fromRule, toRule)
	if err != nil {
		return nil, err
	}
	return &WeirMultiTransferBatchIterator{contract: _WeirMulti.contract, event: "TransferBatch", logs: logs, sub: sub}, nil
}

// WatchTransferBatch is a free log subscription operation binding the contract event 0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb.
//
// Solidity: event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)
func (_WeirMulti *WeirMultiFilterer) WatchTransferBatch(opts *bind.WatchOpts, sink chan<- *WeirMultiTransferBatch, operator []common.Address, from []common.Address, to []common.Address) (event.Subscription, error) {

	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}
	var fromRule []interface{}
	for _, fromItem := range from {
		fromRule = append(fromRule, fromItem)
	}
	var toRule []interface{}
	for _, toItem := range to {
		toRule = append(toRule, toItem)
	}

	logs, sub, err := _WeirMulti.contract.WatchLogs(opts, "TransferBatch", operatorRule, fromRule, toRule)
	if err != nil {
		return nil, err
	}
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer sub.Unsubscribe()
		for {
			select {
			case log := <-logs:
				// New log arrived, parse the event and forward to the user
				event := new(WeirMultiTransferBatch)
				if err := _WeirMulti.contract.UnpackLog(event, "TransferBatch", log); err != nil {
					// If the signature doesn't match, skip this log.
					if errors.Is(err, bind.ErrEventSignatureMismatch) {
						continue
					}
					return err
				}
				event.Raw = log

				select {
				case sink <- event:
				case err := <-sub.Err():
					return err
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	}), nil
}

// ParseTransferBatch is a log parse operation binding the contract event 0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb.
//
// Solidity: event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)
func (_WeirMulti *WeirMultiFilterer) ParseTransferBatch(log types.Log) (*WeirMultiTransferBatch, error) {
	event := new(WeirMultiTransferBatch)
	if err := _WeirMulti.contract.UnpackLog(event, "TransferBatch", log); err != nil {
		return nil, err
	}
	event.Raw = log
	return event, nil
}

// WeirMultiTransferSingleIterator is returned from FilterTransferSingle and is used to iterate over the raw logs and unpacked data for TransferSingle events raised by the WeirMulti contract.
type WeirMultiTransferSingleIterator struct {
	Event *WeirMultiTransferSingle // Event containing the contract specifics and raw log

	contract *bind.BoundContract // Generic contract to use for unpacking event data
	event    string              // Event name to use for unpacking event data

	logs chan types.Log        // Log channel receiving the found contract events
	sub  ethereum.Subscription // Subscription for errors, completion and termination
	done bool                  // Whether the subscription completed delivering logs
	fail error                 // Occurred error to stop iteration
}

// Next advances the iterator to the subsequent event, returning whether there
// are any more events found. In case of a retrieval or parsing error, false is
// returned and Error() can be queried for the exact failure.
func (it *WeirMultiTransferSingleIterator) Next() bool {
	// If the iterator failed, stop iterating
	if it.fail != nil {
		return false
	}
	// If the iterator completed, deliver directly whatever's available
	if it.done {
		select {
		case log := <-it.logs:
			it.Event = new(WeirMultiTransferSingle)
			if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
				it.fail = err
				return false
			}
			it.Event.Raw = log
			return true

		default:
			return false
		}
	}
	// Iterator still in progress, wait for either a data or an error event
	select {
	case log := <-it.logs:
		it.Event = new(WeirMultiTransferSingle)
		if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
			it.fail = err
			return false
		}
		it.Event.Raw = log
		return true

	case err := <-it.sub.Err():
		it.done = true
		it.fail = err
		return it.Next()
	}
}

// Error returns any retrieval or parsing error occurred during filtering.
func (it *WeirMultiTransferSingleIterator) Error() error {
	return it.fail
}

// Close terminates the iteration process, releasing any pending underlying
// resources.
func (it *WeirMultiTransferSingleIterator) Close() error {
	it.sub.Unsubscribe()
	return nil
}

// WeirMultiTransferSingle represents a TransferSingle event raised by the WeirMulti contract.
type WeirMultiTransferSingle struct {
	Operator common.Address
	From     common.Address
	To       common.Address
	Id       *big.Int
	Value    *big.Int
	Raw      types.Log // Blockchain specific contextual infos
}

// FilterTransferSingle is a free log retrieval operation binding the contract event 0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62.
//
// Solidity: event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)
func (_WeirMulti *WeirMultiFilterer) FilterTransferSingle(opts *bind.FilterOpts, operator []common.Address, from []common.Address, to []common.Address) (*WeirMultiTransferSingleIterator, error) {

	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}
	var fromRule []interface{}
	for _, fromItem := range from {
		fromRule = append(fromRule, fromItem)
	}
	var toRule []interface{}
	for _, toItem := range to {
		toRule = append(toRule, toItem)
	}

	logs, sub, err := _WeirMulti.contract.FilterLogs(opts, "TransferSingle", operatorRule, fromRule, toRule)
	if err != nil {
		return nil, err
	}
	return &WeirMultiTransferSingleIterator{contract: _WeirMulti.contract, event: "TransferSingle", logs: logs, sub: sub}, nil
}

// WatchTransferSingle is a free log subscription operation binding the contract event 0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62.
//
// Solidity: event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)
func (_WeirMulti *WeirMultiFilterer) WatchTransferSingle(opts *bind.WatchOpts, sink chan<- *WeirMultiTransferSingle, operator []common.Address, from []common.Address, to []common.Address) (event.Subscription, error) {

	var operatorRule []interface{}
	for _, operatorItem := range operator {
		operatorRule = append(operatorRule, operatorItem)
	}
	var fromRule []interface{}
	for _, fromItem := range from {
		fromRule = append(fromRule, fromItem)
	}
	var toRule []interface{}
	for _, toItem := range to {
		toRule = append(toRule, toItem)
	}

	logs, sub, err := _WeirMulti.contract.WatchLogs(opts, "TransferSingle", operatorRule, fromRule, toRule)
	if err != nil {
		return nil, err
	}
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer sub.Unsubscribe()
		for {
			select {
			case log := <-logs:
				// New log arrived, parse the event and forward to the user
				event := new(WeirMultiTransferSingle)
				if err := _WeirMulti.contract.UnpackLog(event, "TransferSingle", log); err != nil {
					// If the signature doesn't match, skip this log.
					if errors.Is(err, bind.ErrEventSignatureMismatch) {
						continue
					}
					return err
				}
				event.Raw = log

				select {
				case sink <- event:
				case err := <-sub.Err():
					return err
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	}), nil
}

// ParseTransferSingle is a log parse operation binding the contract event 0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62.
//
// Solidity: event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)
func (_WeirMulti *WeirMultiFilterer) ParseTransferSingle(log types.Log) (*WeirMultiTransferSingle, error) {
	event := new(WeirMultiTransferSingle)
	if err := _WeirMulti.contract.UnpackLog(event, "TransferSingle", log); err != nil {
		return nil, err
	}
	event.Raw = log
	return event, nil
}
